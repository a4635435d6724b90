"""Every fixed word a report prints, in Vietnamese and English.

One table for all renderers and templates (`L.key` in a template), so a heading reads
the same in the HTML, the DOCX and the spreadsheet. Prose (the letter's paragraphs) is
in the templates instead, where a province can reword it.
"""

from __future__ import annotations

from reports.formatting import Lang

_LABELS: dict[str, tuple[str, str]] = {
    # document
    "motto_1": ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "SOCIALIST REPUBLIC OF VIETNAM"),
    "motto_2": ("Độc lập - Tự do - Hạnh phúc", "Independence - Freedom - Happiness"),
    "issuer_placeholder": ("(TÊN CƠ QUAN BAN HÀNH)", "(ISSUING BODY)"),
    "number": ("Số:", "No.:"),
    "date_line": ("{place}, ngày      tháng {month} năm {year}", "{place}, ....... {month}/{year}"),
    "kinh_gui": ("Kính gửi:", "To:"),
    "noi_nhan": ("Nơi nhận:", "Recipients:"),
    "annex": ("Phụ lục", "Annex"),
    "annex_title": (
        "BÁO CÁO CHI TIẾT TÌNH HÌNH LÂY NHIỄM MÃ ĐỘC",
        "DETAILED REPORT ON MALWARE INFECTIONS",
    ),
    "annex_title_unit": (
        "BÁO CÁO CHI TIẾT KẾT QUẢ RÀ QUÉT TUÂN THỦ VÀ LÂY NHIỄM MÃ ĐỘC",
        "DETAILED REPORT ON COMPLIANCE AND MALWARE INFECTIONS",
    ),
    "annex_ref": (
        "(Kèm theo Công văn số       /       ngày       của {issuer})",
        "(Attached to letter No.       dated       of {issuer})",
    ),
    "week": ("Tuần", "Week"),
    "period": ("từ ngày {start} đến ngày {end}", "from {start} to {end}"),
    "generated": ("Lập lúc {at} từ dữ liệu rà quét của raquet", "Generated {at} by raquet"),
    "sweeps": ("Lượt rà quét sử dụng", "Sweeps used"),
    "notes": ("Ghi chú về cách tính", "How the figures are counted"),
    "chart_trend": ("Số lượt phát hiện mã độc theo tuần", "Malware detections per week"),
    "chart_units": ("Đơn vị có nhiều lượt phát hiện nhất", "Units with most detections"),
    "chart_trend_x": ("Tuần (ngày thứ Hai đầu tuần)", "Week (its Monday)"),
    "chart_trend_y": ("Lượt phát hiện", "Detections"),
    "chart_trend_series": ("Các tuần trước", "Earlier weeks"),
    "chart_trend_stressed": ("Tuần báo cáo", "Reported week"),
    "chart_units_x": ("Lượt phát hiện trong tuần", "Detections this week"),
    "chart_units_y": ("Đơn vị", "Unit"),
    "chart_units_series": ("Lượt phát hiện của đơn vị", "Detections of the unit"),
    "sheet_trend": ("Biểu đồ theo tuần", "Chart by week"),
    "sheet_units": ("Biểu đồ theo đơn vị", "Chart by unit"),
    "none": ("không có", "none"),
    "total": ("Tổng cộng", "Total"),
    "yes": ("Đã xử lý", "Cleaned"),
    "no": ("Chưa", "Not yet"),
    # tables
    "t_summary": ("Tổng hợp", "Summary"),
    "t_units": ("Bảng 1 - Tổng hợp theo đơn vị", "Table 1 - By unit"),
    "t_malware": ("Bảng 2 - Mã độc phát hiện", "Table 2 - Malware detected"),
    "t_infected": ("Bảng 3 - Máy bị lây nhiễm", "Table 3 - Infected machines"),
    "t_connections": (
        "Bảng 4 - Kết nối đến địa chỉ độc hại",
        "Table 4 - Connections to malicious addresses",
    ),
    "t_trend": ("Diễn biến theo tuần", "Week by week"),
    "t_campaign": ("Thống kê kết quả chiến dịch", "Campaign statistics"),
    "t_campaign_units": ("Thống kê chiến dịch theo đơn vị", "Campaign statistics by unit"),
    "t_failing": ("Lỗi tuân thủ theo máy", "Failing checks by host"),
    "t_detections": ("Chi tiết phát hiện mã độc", "Malware detections"),
    "t_cleaned": ("Máy đã xử lý và xác minh sạch", "Machines cleaned and verified"),
    "t_unswept": ("Máy chưa rà quét được", "Machines not swept"),
    "t_remediations": ("Biện pháp khắc phục đã thực hiện", "Remediations done"),
    "t_waivers": ("Ngoại lệ được phê duyệt", "Waivers"),
    # these three name XLSX sheets too: at most 31 characters
    "t_vulns_hosts": ("Máy có lỗ hổng mức cao trở lên", "Machines with severe weaknesses"),
    "t_top_cves": ("Lỗ hổng phổ biến nhất", "Top vulnerabilities of the unit"),
    "t_vulns_unchecked": ("Máy chưa được kiểm tra điểm yếu", "Not checked for weaknesses"),
    # columns
    "c_no": ("STT", "No."),
    "c_metric": ("Chỉ số", "Figure"),
    "c_this_week": ("Tuần này", "This week"),
    "c_last_week": ("Tuần trước", "Last week"),
    "c_change": ("Tăng/giảm", "Change"),
    "c_unit": ("Đơn vị", "Unit"),
    "c_in_scope": ("Số máy quản lý", "Hosts in scope"),
    "c_swept": ("Đã rà quét", "Swept"),
    "c_not_swept": ("Chưa rà quét", "Not swept"),
    "c_compliant": ("Tuân thủ", "Compliant"),
    "c_infected": ("Máy nhiễm", "Infected"),
    "c_detections": ("Lượt phát hiện", "Detections"),
    "c_malware_types": ("Số loại mã độc", "Malware types"),
    "c_top_malware": ("Mã độc phổ biến nhất", "Top malware"),
    "c_cleaned": ("Đã xử lý", "Cleaned"),
    "c_malware": ("Tên mã độc", "Malware"),
    "c_hosts": ("Số máy", "Hosts"),
    "c_units": ("Số đơn vị", "Units"),
    "c_host": ("Tên máy", "Host"),
    "c_first_seen": ("Phát hiện đầu", "First seen"),
    "c_last_seen": ("Phát hiện cuối", "Last seen"),
    "c_status": ("Trạng thái", "Status"),
    "c_kind": ("Loại", "Kind"),
    "c_indicator": ("Chỉ báo", "Indicator"),
    "c_remote": ("Địa chỉ đích / dòng tệp hosts", "Remote address / hosts-file line"),
    "c_pid": ("PID", "PID"),
    "c_process": ("Tiến trình", "Process"),
    "c_feed": ("Nguồn danh sách", "Feed"),
    "c_week": ("Tuần", "Week"),
    "c_from": ("Từ ngày", "From"),
    "c_content": ("Nội dung", "Item"),
    "c_count": ("Số lượng", "Count"),
    "c_note": ("Ghi chú", "Note"),
    "c_check": ("Kiểm tra", "Check"),
    "c_severity": ("Mức độ", "Severity"),
    "c_title": ("Nội dung", "Finding"),
    "c_evidence": ("Bằng chứng", "Evidence"),
    "c_path": ("Đường dẫn tệp", "Path"),
    "c_detected_at": ("Thời điểm", "Detected at"),
    "c_source": ("Nguồn", "Source"),
    "c_action": ("Xử lý của AV", "AV action"),
    "c_last_infected": ("Nhiễm lần cuối", "Last infected"),
    "c_verified_at": ("Xác minh sạch lúc", "Verified clean at"),
    "c_sweep": ("Lượt rà quét", "Sweep"),
    "c_reason": ("Lý do", "Reason"),
    "c_message": ("Thông báo gốc", "Original message"),
    "c_remediation": ("Biện pháp khắc phục", "Remediation"),
    "c_result": ("Kết quả", "Result"),
    "c_error": ("Lỗi", "Error"),
    "c_operator": ("Người thực hiện", "Operator"),
    "c_done_at": ("Thực hiện lúc", "Done at"),
    "c_verify_sweep": ("Lượt rà quét xác minh", "Verification sweep"),
    "c_undone_at": ("Hoàn tác lúc", "Undone at"),
    "c_item": ("Đối tượng", "Item"),
    "c_approved_by": ("Người phê duyệt", "Approved by"),
    "c_expires": ("Hiệu lực đến", "Valid until"),
    "c_os": ("Hệ điều hành", "Operating system"),
    "c_critical": ("Nghiêm trọng", "Critical"),
    "c_high": ("Cao", "High"),
    "c_components": ("Thành phần có lỗ hổng nặng nhất", "Worst components"),
    "c_cve": ("Mã lỗ hổng (CVE)", "CVE"),
    "c_cvss": ("Điểm CVSS", "CVSS"),
    "c_component": ("Thành phần", "Component"),
    "c_machines": ("Số máy bị ảnh hưởng", "Machines affected"),
    "c_fixed": ("Phiên bản sửa lỗi", "Fixed in"),
    "c_host_names": ("Tên các máy", "Host names"),
    "c_vulns_checked": ("Đã kiểm tra điểm yếu", "Checked for weaknesses"),
    "c_vulns_failing": ("Có lỗ hổng phải xử lý", "With weaknesses to fix"),
    # figures
    "m_detections": ("Số lượt phát hiện mã độc", "Malware detections"),
    "m_infected": ("Số máy bị lây nhiễm", "Infected machines"),
    "m_malware": ("Số loại mã độc", "Malware types"),
    "f_in_scope": (
        "Tổng số máy thuộc phạm vi chiến dịch (đã nhận thông tin)",
        "Machines in scope of the campaign (informed)",
    ),
    "f_swept": ("Tổng số máy đã rà quét", "Machines swept"),
    "f_infected": ("Số máy phát hiện lây nhiễm mã độc", "Machines found infected"),
    "f_cleaned": ("Số máy đã xử lý, làm sạch mã độc", "Machines cleaned"),
    "f_general": ("Thông tin chung", "General information"),
    "f_organisation": ("Tên cơ quan/đơn vị", "Agency/unit"),
    "f_phone": ("Điện thoại liên hệ", "Contact phone"),
    "f_assessment": (
        "Đánh giá kết quả thực hiện chiến dịch (thuận lợi/khó khăn)",
        "Assessment of the campaign (what helped, what hindered)",
    ),
    "f_proposals": ("Đề xuất, kiến nghị (nếu có)", "Proposals (if any)"),
    "f_figures": ("Thông tin số liệu", "Figures"),
    "f_in_scope_note": ("máy trong kế hoạch rà quét", "hosts planned by the sweep"),
    "f_cleaned_note": (
        "nhiễm trong kỳ, lần rà quét sau cùng không còn phát hiện, "
        "hoặc đã khắc phục lây nhiễm và xác minh trong tuần",
        "infected in the period, clean at the latest sweep, "
        "or its infection remediated and verified this week",
    ),
    "f_vulns_checked": (
        "Số máy đã kiểm tra điểm yếu trình duyệt, hệ điều hành",
        "Machines checked for browser and operating system weaknesses",
    ),
    "f_vulns_checked_note": (
        "đã đối chiếu với dữ liệu lỗ hổng (đạt, không đạt hoặc được miễn trừ)",
        "compared with vulnerability data (pass, fail or waived)",
    ),
    "f_vulns_unchecked_note": (
        "chưa kiểm tra: chưa nhập dữ liệu lỗ hổng hoặc lượt rà quét không gồm kiểm tra lỗ hổng",
        "not checked: no vulnerability data imported, or the sweeps did not run the check",
    ),
    "f_vulns_failing": (
        "Trong đó: số máy có lỗ hổng từ ngưỡng của chính sách trở lên",
        "Of them: machines with weaknesses at or above the policy threshold",
    ),
    "f_vulns_failing_note": (
        "ngưỡng vulns.fail_on của chính sách rà quét",
        "the sweep policy's vulns.fail_on",
    ),
    "vulns_line": (
        "Đã kiểm tra điểm yếu {checked}/{in_scope} máy: {critical} máy có lỗ hổng nghiêm trọng, "
        "{high} máy có lỗ hổng mức cao (không có lỗ hổng nghiêm trọng); "
        "{unchecked} máy chưa được kiểm tra.",
        "Checked for weaknesses: {checked} of {in_scope} machines; {critical} with critical "
        "weaknesses, {high} with high ones (and no critical); {unchecked} not checked.",
    ),
    "u_no_data": (
        "chưa nhập dữ liệu lỗ hổng (raquet vulns import)",
        "no vulnerability data imported (raquet vulns import)",
    ),
    "u_not_covered": (
        "dữ liệu lỗ hổng đã nhập chưa bao gồm hệ điều hành {os}",
        "the vulnerability data imported does not cover {os}",
    ),
    "u_not_run": (
        "lượt rà quét không gồm kiểm tra lỗ hổng",
        "the sweep did not run the vulns check",
    ),
    "u_not_swept": ("máy chưa rà quét được", "the machine was not swept"),
    "remediation_line": (
        "Biện pháp khắc phục trong tuần: {fixed} đã khắc phục, {failed} thất bại, "
        "{unverified} chưa xác minh, {undone} đã hoàn tác.",
        "Remediations this week: {fixed} fixed, {failed} failed, {unverified} unverified, "
        "{undone} undone.",
    ),
    # statuses
    "s_pass": ("đạt", "pass"),
    "s_fail": ("không đạt", "fail"),
    "s_error": ("lỗi kiểm tra", "check error"),
    "s_not_applicable": ("không áp dụng", "not applicable"),
    "s_waived": ("được miễn trừ", "waived"),
    "w_active": ("còn hiệu lực", "in force"),
    "w_expired": ("đã hết hạn: lỗi được tính lại", "expired: the finding counts again"),
    "h_unreachable": ("không kết nối được", "unreachable"),
    "h_error": ("lỗi khi rà quét", "sweep error"),
    "h_pending": ("chưa có kết quả", "no result yet"),
    "r_fixed": ("Đã khắc phục", "Fixed"),
    "r_failed": ("Thất bại", "Failed"),
    "r_unverified": ("Chưa xác minh", "Unverified"),
    "r_undone": ("Đã hoàn tác", "Undone"),
    "e_yes": ("có", "yes"),
    "e_no": ("không", "no"),
    "e_more": (
        "và {count} mục khác (xem tài liệu JSON)",
        "and {count} more (see the JSON document)",
    ),
    "t_evidence": (
        "Phụ lục bằng chứng của các lỗi tuân thủ",
        "Annex: evidence of the failing checks",
    ),
    "c_key": ("Mục bằng chứng", "Evidence key"),
    "c_value": ("Giá trị", "Value"),
    "c_detail": ("Bằng chứng và việc cần làm", "Evidence and what to do"),
    "k_socket": ("Kết nối đang hoạt động", "Live connection"),
    "k_hosts_file": ("Dòng tệp hosts", "Hosts-file entry"),
    "k_dns_cache": ("Tên miền trong bộ nhớ đệm DNS", "Name in the DNS cache"),
    "x_av": ("Phòng, chống mã độc", "Antivirus"),
    "x_patches": ("Bản vá", "Patches"),
    "x_software": ("Phần mềm cấm", "Banned software"),
    "x_connections": ("Kết nối độc hại", "Malicious connections"),
    "x_infections": ("Lây nhiễm mã độc", "Infections"),
    "x_vulns": ("Lỗ hổng", "Vulnerabilities"),
    "v_info": ("thông tin", "info"),
    "v_low": ("thấp", "low"),
    "v_medium": ("trung bình", "medium"),
    "v_high": ("cao", "high"),
    "v_critical": ("nghiêm trọng", "critical"),
}


class Labels(dict[str, str]):
    """The labels of one language; a missing key is a bug worth a KeyError, not a blank."""

    def __getattr__(self, key: str) -> str:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def status(self, value: str) -> str:
        return self.get(f"s_{value}", value)

    def host_status(self, value: str) -> str:
        return self.get(f"h_{value}", value)

    def severity(self, value: str) -> str:
        return self.get(f"v_{value}", value)

    def remediation(self, value: str) -> str:
        return self.get(f"r_{value}", value)

    def check(self, value: str) -> str:
        return self.get(f"x_{value}", value)

    def connection_source(self, value: str) -> str:
        return self.get(f"k_{value}", value)


def labels(lang: Lang) -> Labels:
    index = 0 if lang == "vi" else 1
    return Labels({key: pair[index] for key, pair in _LABELS.items()})
