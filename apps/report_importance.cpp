#include "apps/report_importance.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace gpu_tune::app {

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t first = 0; first < order.size();) {
    size_t last = first;
    while (last + 1 < order.size() && values[order[last + 1]] == values[order[first]]) ++last;
    const double rank = (static_cast<double>(first + last) + 2) / 2;  // ranks first+1 .. last+1
    for (size_t i = first; i <= last; ++i) ranks[order[i]] = rank;
    first = last + 1;
  }
  return ranks;
}

std::vector<int> quantile_bins(const std::vector<double>& values, int bins) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<int> groups(n);
  int group = -1, group_bin = -1;  // the group being filled, and the quantile bin it began in
  for (size_t i = 0; i < n; ++i) {
    const bool tie = i > 0 && values[order[i]] == values[order[i - 1]];
    const int bin = static_cast<int>(i * static_cast<size_t>(std::max(bins, 1)) / n);
    if (!tie && bin > group_bin) {  // a new bin starts here, unless a tie holds it back
      ++group;
      group_bin = bin;
    }
    groups[order[i]] = group;
  }
  return groups;
}

double epsilon_squared(const std::vector<double>& values, const std::vector<int>& groups) {
  const double n = static_cast<double>(values.size());
  if (values.empty()) return 0;
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  std::map<int, std::pair<double, int>> sums;  // group -> (sum, count)
  double total = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    sums[groups[i]].first += values[i];
    sums[groups[i]].second += 1;
    total += (values[i] - mean) * (values[i] - mean);
  }
  const double g = static_cast<double>(sums.size());
  if (total <= 0 || g < 2 || n <= g) return 0;
  double between = 0;
  for (const auto& [group, sum_count] : sums) {
    const double group_mean = sum_count.first / sum_count.second;
    between += sum_count.second * (group_mean - mean) * (group_mean - mean);
  }
  const double within_mean_square = (total - between) / (n - g);
  return std::clamp((between - (g - 1) * within_mean_square) / total, 0.0, 1.0);
}

ImportanceResult binned_variance_importance(const std::vector<ReportParameter>& parameters,
                                            const std::vector<search::TrialRecord>& trials) {
  std::vector<const search::TrialRecord*> complete;
  std::vector<double> objective;
  for (const search::TrialRecord& t : trials) {
    if (t.state != search::TrialState::kComplete || !t.value || !std::isfinite(*t.value)) continue;
    complete.push_back(&t);
    objective.push_back(*t.value);
  }
  const std::vector<double> ranks = average_ranks(objective);

  ImportanceResult result;
  result.trials = static_cast<int>(complete.size());
  double share_sum = 0;
  for (const ReportParameter& p : parameters) {
    ParameterImportance importance;
    importance.name = p.name;
    std::vector<double> y;
    std::vector<double> numbers;
    std::map<std::string, int> labels;  // categorical value -> group
    std::vector<int> groups;
    for (size_t i = 0; i < complete.size(); ++i) {
      const auto found = complete[i]->params.find(p.name);
      if (found == complete[i]->params.end()) continue;  // inactive in this trial
      y.push_back(ranks[i]);
      if (p.scale == AxisScale::kCategorical) {
        groups.push_back(labels.emplace(category_label(found->second), static_cast<int>(labels.size())).first->second);
      } else {
        numbers.push_back(search::to_double(found->second));
      }
    }
    importance.trials = static_cast<int>(y.size());
    if (importance.trials >= kMinimumImportanceTrials) {
      if (p.scale != AxisScale::kCategorical) {
        const int bins = std::clamp(static_cast<int>(std::sqrt(static_cast<double>(numbers.size()))), 2, 10);
        groups = quantile_bins(numbers, bins);
      }
      importance.groups = groups.empty() ? 0 : *std::max_element(groups.begin(), groups.end()) + 1;
      importance.variance_share = epsilon_squared(y, groups);
    }
    share_sum += importance.variance_share;
    result.parameters.push_back(importance);
  }
  if (share_sum > 0)
    for (ParameterImportance& importance : result.parameters) importance.importance = importance.variance_share / share_sum;
  return result;
}

}  // namespace gpu_tune::app
