#pragma once
// The files `gpu_tune report` writes into every report, compiled into the program by
// cmake/ReportAssets.cmake (generated sources; see there).
#include <string_view>

namespace gpu_tune::app {

// apps/report_template.html.
std::string_view report_template_html();
// Apache ECharts' echarts.min.js, at the version pinned in report/package-lock.json.
std::string_view report_charting_library();

}  // namespace gpu_tune::app
