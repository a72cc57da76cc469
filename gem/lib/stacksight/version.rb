# version.rb - the gem's version (the core reports SS_PROFILER_VERSION; they move together).
module Stacksight
  VERSION = "0.1.0"
end
