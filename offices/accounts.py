"""Office staff accounts: one per person, tied to the office unit it works for.

A province's Department of Health manages the accounts of its own units (`python -m offices
users ...`). Passwords are hashed with argon2id (argon2-cffi, the Password Hashing
Competition's winner, as OWASP recommends); only the hash is stored.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

import psycopg2
import psycopg2.extras
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from offices.sessions import Sessions
from schemas.admin_units import AdminUnits
from schemas.times import utcnow

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD = 12

_hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """The account cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True)
class Account:
    username: str
    province_code: str
    level: str
    unit_code: str
    display_name: str
    disabled: bool
    password_set_at: dt.datetime

    @property
    def is_province(self) -> bool:
        return self.level == "province"

    @property
    def role(self) -> str:
        """The Kafka principal the console publishes this office's results as."""
        return f"office-{self.province_code}"


def unit_province(units: AdminUnits, level: str, unit_code: str) -> str:
    """The province of a unit at its level in the map in force, or AccountError when there is
    no such unit (under 2025 there are no districts: they were abolished)."""
    if level not in units.levels:
        why = " (districts were abolished on 1 July 2025)" if level == "district" else ""
        raise AccountError(f"level must be one of {', '.join(units.levels)}{why}")
    province = units.province_of(level, unit_code)
    if province is None:
        raise AccountError(f"no {level} has code {unit_code!r}")
    return province


def generate_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, 96 bits


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


_COLUMNS = "username, province_code, level, unit_code, display_name, disabled, password_set_at"


def _account(row: dict) -> Account:
    return Account(**{k: row[k] for k in Account.__dataclass_fields__})


class Accounts:
    """The accounts table (migration 0003) over one connection."""

    def __init__(self, conn: psycopg2.extensions.connection, units: AdminUnits) -> None:
        self.conn = conn
        self.units = units

    def _one(self, sql: str, args: tuple, commit: bool = False) -> dict | None:
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
        if commit:
            self.conn.commit()
        return row

    def get(self, username: str) -> Account | None:
        row = self._one(f"SELECT {_COLUMNS} FROM office_accounts WHERE username = %s", (username,))
        return _account(row) if row else None

    def list(self, province_code: str | None = None) -> list[Account]:
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(f"""SELECT {_COLUMNS} FROM office_accounts
                            WHERE %(p)s::text IS NULL OR province_code = %(p)s
                            ORDER BY province_code, level, unit_code, username""", {"p": province_code})
            return [_account(r) for r in cur.fetchall()]

    def add(self, username: str, level: str, unit_code: str, password: str, display_name: str = "",
            province_code: str | None = None) -> Account:
        if not USERNAME.match(username):
            raise AccountError("a username is 3-64 characters: lower-case letters, digits, '.', '_' or '-'")
        province = unit_province(self.units, level, unit_code)
        if province_code is not None and province_code != province:
            raise AccountError(f"{level} {unit_code} is not in province {province_code}: "
                               "a province manages the accounts of its own units only")
        check_password(password)
        try:
            row = self._one(f"""INSERT INTO office_accounts (username, province_code, level, unit_code, display_name,
                                                             password_hash)
                                VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
                            (username, province, level, unit_code, display_name, _hasher.hash(password)), commit=True)
        except psycopg2.errors.UniqueViolation:
            self.conn.rollback()
            raise AccountError(f"the username {username!r} is taken") from None
        assert row is not None
        return _account(row)

    def _change(self, username: str, province_code: str | None, assignments: str, args: tuple) -> Account:
        """UPDATE one account, of `province_code` when given (a province changes its own only)."""
        row = self._one(f"""UPDATE office_accounts SET {assignments}
                            WHERE username = %s AND (%s::text IS NULL OR province_code = %s) RETURNING {_COLUMNS}""",
                        (*args, username, province_code, province_code), commit=True)
        if row is None:
            raise AccountError(f"no account {username!r}" + (f" in province {province_code}" if province_code else ""))
        return _account(row)

    def set_disabled(self, username: str, disabled: bool, province_code: str | None = None) -> Account:
        account = self._change(username, province_code, "disabled = %s, password_set_at = now()", (disabled,))
        if disabled:
            Sessions(self.conn).end_all(username, utcnow(), "account disabled")
        return account

    def reset(self, username: str, password: str, province_code: str | None = None) -> Account:
        check_password(password)
        account = self._change(username, province_code, "password_hash = %s, password_set_at = now()",
                               (_hasher.hash(password),))
        Sessions(self.conn).end_all(username, utcnow(), "password reset")
        return account

    def remove(self, username: str) -> None:
        """An account just made whose unit's grant could not be sent (offices/web.py)."""
        with self.conn, self.conn.cursor() as cur:
            cur.execute("DELETE FROM office_accounts WHERE username = %s", (username,))

    def sign_out_everywhere(self, username: str, province_code: str | None = None) -> int:
        """End every open session of an account (of `province_code` when given); how many ended."""
        self._change(username, province_code, "username = username", ())  # exists, and is the province's
        return Sessions(self.conn).end_all(username, utcnow(), "signed out everywhere")

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account when the password is right and the account enabled, else None."""
        row = self._one(f"SELECT {_COLUMNS}, password_hash FROM office_accounts WHERE username = %s", (username,))
        try:
            _hasher.verify(row["password_hash"] if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None or row["disabled"]:
            return None
        with self.conn, self.conn.cursor() as cur:
            if _hasher.check_needs_rehash(row["password_hash"]):
                cur.execute("UPDATE office_accounts SET password_hash = %s WHERE username = %s",
                            (_hasher.hash(password), username))
            cur.execute("UPDATE office_accounts SET last_sign_in_at = now() WHERE username = %s", (username,))
        return _account(row)
