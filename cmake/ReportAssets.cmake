# What `gpu_tune report` writes into every report, compiled into the program so that the
# report needs neither network nor files beside the binary: the page template
# (apps/report_template.html) and Apache ECharts, the charting library, at the exact version
# pinned in report/package-lock.json and installed by scripts/install-deps.sh (npm ci).
# Sets gpu_tune_report_asset_sources to the generated sources.
set(GPU_TUNE_ECHARTS_JS ${PROJECT_SOURCE_DIR}/report/node_modules/echarts/dist/echarts.min.js
    CACHE FILEPATH "echarts.min.js to embed in gpu_tune (default: installed by scripts/install-deps.sh)")
if(NOT EXISTS ${GPU_TUNE_ECHARTS_JS})
  message(FATAL_ERROR "gpu_tune report needs ${GPU_TUNE_ECHARTS_JS}, which is missing: run scripts/install-deps.sh "
                      "(it runs `npm ci` in report/), or point -DGPU_TUNE_ECHARTS_JS at a copy of echarts.min.js")
endif()

# The version the report names in its footer: that of the package next to the file.
get_filename_component(echarts_package_dir ${GPU_TUNE_ECHARTS_JS} DIRECTORY)
set(gpu_tune_echarts_version unknown)
if(EXISTS ${echarts_package_dir}/../package.json)
  file(READ ${echarts_package_dir}/../package.json echarts_package_json)
  string(JSON gpu_tune_echarts_version ERROR_VARIABLE echarts_version_error GET "${echarts_package_json}" version)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${echarts_package_dir}/../package.json)
endif()

set(report_generated_dir ${CMAKE_CURRENT_BINARY_DIR}/generated/apps)
set(gpu_tune_report_asset_sources)
foreach(asset IN ITEMS "report_template_html|${PROJECT_SOURCE_DIR}/apps/report_template.html"
                       "report_charting_library|${GPU_TUNE_ECHARTS_JS}")
  string(REPLACE "|" ";" asset "${asset}")
  list(GET asset 0 function)
  list(GET asset 1 input)
  set(output ${report_generated_dir}/${function}.cpp)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DIN=${input} -DOUT=${output} -DFUNCTION=${function} -DHEADER=apps/report_assets.h
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake
    DEPENDS ${input} ${PROJECT_SOURCE_DIR}/cmake/EmbedFile.cmake
    COMMENT "Embedding ${function} in gpu_tune"
    VERBATIM)
  list(APPEND gpu_tune_report_asset_sources ${output})
endforeach()
set_source_files_properties(${PROJECT_SOURCE_DIR}/apps/report_html.cpp PROPERTIES
  COMPILE_DEFINITIONS GPU_TUNE_ECHARTS_VERSION="${gpu_tune_echarts_version}")
