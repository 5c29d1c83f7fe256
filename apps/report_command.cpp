#include "apps/report_command.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "apps/report_data.h"
#include "apps/report_html.h"
#include "apps/report_study.h"
#include "apps/output_file.h"

namespace gpu_tune::app {

int run_report(const ReportOptions& options, std::ostream& log) {
  try {
    const ReportStudy study = load_report_study(options.selector);
    const nlohmann::json data =
        report_data(study.info, study.space ? &*study.space : nullptr, study.space_note, study.trials);
    const std::string page = render_report_html(data, "gpu_tune report: " + study.info.name);
    const std::filesystem::path target(options.output);
    std::error_code ignored;
    if (std::filesystem::exists(target, ignored) && !std::filesystem::is_regular_file(target, ignored)) {
      // A device or a pipe (/dev/stdout) is written in place: renaming a file over it would
      // replace it.
      write_output_file(target.string(), page);
    } else {
      // Written beside the target and renamed over it, so a failed write never leaves half a
      // report where a whole one was.
      const std::filesystem::path partial = target.string() + ".partial";
      try {
        write_output_file(partial.string(), page);
      } catch (...) {
        std::filesystem::remove(partial, ignored);
        throw;
      }
      std::filesystem::rename(partial, target);
    }
    log << "gpu_tune report: wrote " << target.string() << " (" << study.trials.size() << " trials of study '"
        << study.info.name << "')\n";
    return 0;
  } catch (const std::exception& e) {
    log << "gpu_tune report: error: " << e.what() << "\n";
    return 2;
  }
}

void add_report_command(CLI::App& app, ReportOptions& options, int& exit_code) {
  CLI::App* report = app.add_subcommand("report", "write a self-contained HTML report of a study (charts, importances, trials)");
  add_study_selector(*report, options.selector);
  report->add_option("--output,-o", options.output, "the HTML file to write")->capture_default_str();
  report->callback([&] { exit_code = run_report(options, std::cerr); });
}

}  // namespace gpu_tune::app
