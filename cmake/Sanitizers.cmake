# GPU_TUNE_SANITIZE: compile and link everything with these sanitizers, e.g.
# "address,undefined" or "thread" (scripts/sanitize-tests.sh). A report fails the program:
# UndefinedBehaviorSanitizer does not recover, and AddressSanitizer and ThreadSanitizer exit
# non-zero by default.
set(GPU_TUNE_SANITIZE "" CACHE STRING "Sanitizers for every target (address,undefined | thread); empty for none")
if(GPU_TUNE_SANITIZE)
  if(GPU_TUNE_SANITIZE MATCHES "address|thread" AND NOT GPU_TUNE_CUDA STREQUAL "OFF")
    message(FATAL_ERROR "GPU_TUNE_SANITIZE=${GPU_TUNE_SANITIZE} needs -DGPU_TUNE_CUDA=OFF: "
                        "the CUDA runtime is not built with the sanitizers")
  endif()
  add_compile_options(-fsanitize=${GPU_TUNE_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${GPU_TUNE_SANITIZE})
  if(GPU_TUNE_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()
