"""The stream worker: routes complaints and keeps the 48-hour clock (Faust)."""
