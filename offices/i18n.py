"""The console's words in Vietnamese (the default) and English.

A catalogue in code rather than gettext files: some sixty strings, no build step, and a
unit test checks that every one has both languages.
"""

from __future__ import annotations

LANGUAGES = ("vi", "en")
DEFAULT = "vi"

CATALOGUE: dict[str, tuple[str, str]] = {
    "app_title": ("Hệ thống xử lý phản ánh tiêm chủng COVID-19", "COVID-19 vaccination complaints"),
    "sign_in": ("Đăng nhập", "Sign in"),
    "sign_out": ("Đăng xuất", "Sign out"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "bad_credentials": ("Tên đăng nhập hoặc mật khẩu không đúng.", "Wrong username or password."),
    "too_many": ("Quá nhiều lần thử. Vui lòng thử lại sau.", "Too many attempts. Please try again later."),
    "session_ended": ("Phiên làm việc đã kết thúc. Vui lòng đăng nhập lại.", "Your session has ended. Please sign in again."),
    "form_expired": ("Biểu mẫu đã hết hạn. Vui lòng thử lại.", "The form has expired. Please try again."),
    "queue": ("Hàng đợi", "Queue"),
    "sla": ("Chỉ tiêu 48 giờ", "48-hour SLA"),
    "digest": ("Bản tin hằng ngày", "Daily digest"),
    "open_complaints": ("Phản ánh đang chờ xử lý", "Open complaints"),
    "showing": ("Hiển thị {shown} / {total}", "Showing {shown} of {total}"),
    "none_open": ("Không có phản ánh nào đang chờ xử lý.", "No open complaints."),
    "complaint_id": ("Mã phản ánh", "Complaint id"),
    "category": ("Loại", "Category"),
    "level": ("Cấp", "Level"),
    "handler": ("Đơn vị xử lý", "Handler"),
    "recorded_at": ("Ghi nhận lúc", "Recorded"),
    "deadline": ("Hạn xử lý", "Deadline"),
    "time_left": ("Thời gian còn lại", "Time left"),
    "escalated": ("Đã báo cáo vượt hạn", "Escalated"),
    "all": ("Tất cả", "All"),
    "yes": ("Có", "Yes"),
    "no": ("Không", "No"),
    "filter": ("Lọc", "Filter"),
    "search_id": ("Tìm theo mã", "Search by id"),
    "overdue": ("Quá hạn", "Overdue"),
    "due_soon": ("Đến hạn trong 24 giờ", "Due within 24 h"),
    "hours_left": ("còn {h} giờ", "{h} h left"),
    "hours_over": ("quá hạn {h} giờ", "{h} h overdue"),
    "citizen": ("Người phản ánh", "Citizen"),
    "full_name": ("Họ và tên", "Full name"),
    "national_id": ("Số CCCD/CMND", "National ID"),
    "phone": ("Số điện thoại", "Phone"),
    "birth_date": ("Ngày sinh", "Date of birth"),
    "description": ("Nội dung", "Description"),
    "location": ("Địa bàn", "Location"),
    "site": ("Điểm tiêm", "Vaccination site"),
    "doses": ("Mũi tiêm", "Doses"),
    "dose": ("Mũi", "Dose"),
    "vaccine": ("Vắc xin", "Vaccine"),
    "vaccinated_on": ("Ngày tiêm", "Vaccinated on"),
    "lot_number": ("Số lô", "Lot"),
    "routing": ("Phân luồng", "Routing"),
    "route": ("Luồng", "Route"),
    "warnings": ("Cảnh báo", "Warnings"),
    "history": ("Lịch sử", "History"),
    "ev_submitted": ("Tiếp nhận", "Submitted"),
    "ev_routed": ("Phân luồng", "Routed"),
    "ev_escalated": ("Báo cáo vượt hạn 48 giờ", "Escalated: 48 hours passed"),
    "ev_resolved": ("Có kết quả", "Resolved"),
    "record_result": ("Ghi nhận kết quả", "Record the result"),
    "outcome": ("Kết quả", "Outcome"),
    "note": ("Ghi chú", "Note"),
    "send": ("Gửi kết quả", "Send the result"),
    "already_resolved": ("Phản ánh này đã có kết quả.", "This complaint has a result."),
    "result_recorded": ("Đã ghi nhận kết quả cho {id}.", "The result for {id} is recorded."),
    "result_sent": ("Đã gửi kết quả cho {id}; sẽ rời hàng đợi khi được ghi nhận.",
                    "The result for {id} is sent; it leaves the queue once recorded."),
    "result_failed": ("Không gửi được kết quả: {why}", "The result was not sent: {why}"),
    "outcome_updated": ("Đã cập nhật dữ liệu", "Record updated"),
    "outcome_rejected": ("Không có cơ sở điều chỉnh", "Rejected"),
    "outcome_duplicate": ("Trùng phản ánh", "Duplicate"),
    "outcome_referred": ("Chuyển đơn vị khác", "Referred elsewhere"),
    "cat_missing_record": ("Thiếu thông tin tiêm", "Missing record"),
    "cat_incorrect_record": ("Sai thông tin tiêm", "Incorrect record"),
    "cat_missing_dose": ("Thiếu mũi tiêm", "Missing dose"),
    "cat_certificate": ("Chứng nhận tiêm", "Certificate"),
    "cat_other": ("Khác", "Other"),
    "lvl_province": ("Tỉnh", "Province"),
    "lvl_district": ("Huyện", "District"),
    "lvl_commune": ("Xã", "Commune"),
    "lvl_site": ("Điểm tiêm", "Site"),
    "lvl_national": ("Trung ương", "National"),
    "received": ("Tiếp nhận", "Received"),
    "resolved_in_48h": ("Xử lý đúng hạn", "Resolved within 48 h"),
    "resolved_late": ("Xử lý trễ hạn", "Resolved late"),
    "open_overdue": ("Chưa xử lý, quá hạn", "Open, overdue"),
    "open_in_time": ("Chưa xử lý, trong hạn", "Open, in time"),
    "compliance_pct": ("Tỷ lệ đúng hạn (%)", "Compliance (%)"),
    "median_h": ("Trung vị (giờ)", "Median (h)"),
    "p90_h": ("Bách phân vị 90 (giờ)", "90th percentile (h)"),
    "escalated_then_in_time": ("Báo vượt hạn, sau đó có kết quả đúng hạn", "Escalated, then resolved in time"),
    "last_30_days": ("30 ngày qua, theo ngày tiếp nhận", "Last 30 days, by day recorded"),
    "in_time": ("Đúng hạn", "In time"),
    "late": ("Trễ hạn", "Late"),
    "open": ("Đang xử lý", "Open"),
    "no_digest": ("Chưa có bản tin.", "No digest yet."),
    "digest_of": ("Bản tin ngày {date}", "Digest of {date}"),
    "open_total": ("Tổng số đang mở", "Open in all"),
    "oldest": ("Cũ nhất", "Oldest"),
    "due_within_24h": ("Đến hạn trong 24 giờ", "Due within 24 h"),
    "count": ("Số lượng", "Count"),
    "not_found": ("Không tìm thấy.", "Not found."),
    "times_local": ("Giờ Việt Nam (UTC+7)", "Vietnam time (UTC+7)"),
}


def pick(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT


def translate(lang: str, key: str, **values: object) -> str:
    """The text of `key` in `lang`; a missing key shows as itself, never as an error page."""
    pair = CATALOGUE.get(key)
    text = key if pair is None else pair[LANGUAGES.index(pick(lang))]
    return text.format(**values) if values else text
