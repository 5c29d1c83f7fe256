#pragma once
// The report page: apps/report_template.html with its {{NAME}} placeholders filled in, the
// study's data embedded as JSON and the charting library inline, so that the one file
// works offline. Everything that comes from the study is escaped for where it goes.
#include <nlohmann/json_fwd.hpp>

#include <map>
#include <string>
#include <string_view>

namespace gpu_tune::app {

std::string render_report_html(const nlohmann::json& data, std::string_view title);

// The pieces, for tests.
// Text for an HTML element or a quoted attribute: & < > " ' as character references.
std::string html_escape(std::string_view text);
// JSON that can sit inside <script>: '<', '>' and '&' as \u003c, \u003e, \u0026 (the same
// string to a JSON parser, and no "</script>" or "<!--" can end or bend the script), and
// bytes that are not UTF-8 replaced rather than refused.
std::string json_for_script(const nlohmann::json& data);
// Code for an inline <script>: any "</script" written "<\/script" (the same in a JavaScript
// string or regular expression, where it can occur), case-insensitively.
std::string inline_script(std::string_view code);
// Replaces each {{NAME}} (capitals, digits, underscores) by values.at(NAME), in one pass,
// so filled-in text is never searched again. Throws std::invalid_argument for a placeholder
// without a value, and for a value whose placeholder the template lacks.
std::string fill_template(std::string_view page, const std::map<std::string, std::string>& values);

}  // namespace gpu_tune::app
