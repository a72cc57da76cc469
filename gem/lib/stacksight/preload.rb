# preload.rb - `require "stacksight/preload"` (config.ru) or `stacksight exec`:
# start profiling now, unless DD_PROFILING_ENABLED says false.
require_relative "../stacksight"

Stacksight.start unless Stacksight.env_enabled == false || Stacksight.running?
