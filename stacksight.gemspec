# stacksight.gemspec - the Ruby gem: the binding in gem/ plus the shared C core
# (src/common) and the pprof schema (proto/) it compiles at install time.
require_relative "gem/lib/stacksight/version"

Gem::Specification.new do |s|
  s.name = "stacksight"
  s.version = Stacksight::VERSION
  s.summary = "Always-on CPU and wall-time profiler for Ruby (Datadog-compatible uploads)"
  s.description = "Samples every Ruby thread's CPU and wall time at a low, capped overhead and " \
                  "uploads pprof profiles to a Datadog agent, Pyroscope or files."
  s.authors = ["stacksight developers"]
  s.license = "Apache-2.0"
  s.homepage = "https://github.com/stacksight/stacksight"
  s.required_ruby_version = ">= 2.7"   # older or non-MRI Rubies install and run unprofiled
  s.files = Dir.chdir(__dir__) do
    Dir["gem/lib/**/*.rb", "gem/ext/stacksight/*.{c,h,rb}", "gem/exe/*", "gem/README.md",
        "src/common/*.{c,h}", "proto/profile.proto"]
  end
  s.require_paths = ["gem/lib"]
  s.bindir = "gem/exe"
  s.executables = ["stacksight"]
  s.extensions = ["gem/ext/stacksight/extconf.rb"]
end
