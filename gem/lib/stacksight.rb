# stacksight.rb - always-on CPU and wall-time profiler for Ruby, on stacksight's shared C core.
#
#   require "stacksight"
#   Stacksight.configure { |c| c.profiling.enabled = true; c.service = "web" }
#   # or: Stacksight::Profiler.new(service: "web", env: "prod").start
#
# Settings come from DD_* environment variables (parsed by the core) and from
# code; code wins. See gem/README.md.
require "logger"
require_relative "stacksight/version"

module Stacksight
  class Error < StandardError; end

  begin
    require_relative "stacksight/stacksight_native"
    NATIVE_ERROR = nil
  rescue LoadError => e
    status = File.join(__dir__, "stacksight", "build_status.txt")
    NATIVE_ERROR = if File.exist?(status)
                     "the native extension was not built (#{File.read(status).strip})"
                   else
                     "the native extension cannot be loaded (#{e.message})"
                   end
  end

  LOG_LEVELS = [Logger::DEBUG, Logger::INFO, Logger::WARN].freeze
  # The Rubies the suite runs on (make test-rubies); on others the profiler
  # refuses to start, with a warning, and the application runs unprofiled.
  SUPPORTED_RUBIES = %w[3.1 3.3 3.4].freeze

  class << self
    # Stacksight's own Logger (warnings of the profiler); replace it freely.
    def logger
      @logger ||= Logger.new($stderr, progname: "stacksight")
    end
    attr_writer :logger

    # Why this process cannot be profiled, or nil.
    def unsupported_reason
      return "#{RUBY_ENGINE} is not supported (MRI Ruby on Linux only)" unless RUBY_ENGINE == "ruby"
      unless SUPPORTED_RUBIES.include?(RUBY_VERSION[/\A\d+\.\d+/])
        return "Ruby #{RUBY_VERSION} is not supported (tested on #{SUPPORTED_RUBIES.join(', ')})"
      end
      return NATIVE_ERROR if NATIVE_ERROR
      if defined?(RubyVM::YJIT) && RubyVM::YJIT.respond_to?(:enabled?) && RubyVM::YJIT.enabled?
        return "YJIT is enabled; stacks are read from a signal handler, which YJIT's frames do not support safely"
      end
      if mn_threads?
        return "RUBY_MN_THREADS is on: Ruby threads share native threads (M:N), and the profiler " \
               "signals and times native threads, so it would charge one thread's time to another"
      end
      nil
    end

    # Ruby 3.3+ reads RUBY_MN_THREADS once, at boot (atoi > 0 turns M:N on
    # for the main Ractor). The process's initial environment is what it read,
    # whatever ENV became since.
    def mn_threads?
      return false if Gem::Version.new(RUBY_VERSION) < Gem::Version.new("3.3")
      entry = File.binread("/proc/self/environ").split("\0").find { |kv| kv.start_with?("RUBY_MN_THREADS=") }
      entry ? entry.split("=", 2)[1].to_i > 0 : false
    rescue SystemCallError
      ENV["RUBY_MN_THREADS"].to_i > 0
    end

    # Threads of Ractors other than the main one are not in the thread table
    # (Thread.list and TracePoints are per Ractor): say so once, they run on.
    def check_ractors
      return if @ractors_warned || !defined?(Ractor) || !Ractor.respond_to?(:count) || Ractor.count <= 1
      @ractors_warned = true
      logger.warn("stacksight: Ractors are running; only the main Ractor is profiled " \
                  "(code in other Ractors gets no CPU, wall, lock, exception or allocation samples)")
    rescue StandardError
      nil
    end

    def native?
      NATIVE_ERROR.nil? && RUBY_ENGINE == "ruby"
    end

    # The running profiler, if any.
    attr_reader :profiler

    def running?
      native? && Native.running?
    end

    # Start with the environment's settings plus `options` (see Profiler.new).
    def start(**options)
      return true if running?
      Profiler.new(**options).start
    end

    def stop(flush: true)
      @profiler&.stop(flush: flush)
    end

    def configuration
      @configuration ||= Configuration.new
    end

    # Stacksight.configure { |c| c.profiling.enabled = true; c.env = "prod" }
    def configure
      yield configuration
      configuration.apply
      configuration
    end

    # Hand the core's queued warnings to the Logger. Called from Ruby threads
    # only (the helper thread, start, stop).
    def drain_logs
      return unless native?
      Native.pop_logs.each do |level, message|
        logger.add(LOG_LEVELS[level] || Logger::WARN, message)
      end
    rescue StandardError
      nil   # a broken logger must not break the application
    end

    # DD_PROFILING_ENABLED as the core parsed it: true, false or nil (unset/invalid).
    def env_enabled
      return nil unless native? && ENV.key?("DD_PROFILING_ENABLED")
      value = Native.env_enabled
      drain_logs
      value
    end

    private

    def started(profiler)
      @profiler = profiler
      Helper.start
      unless @at_exit_installed
        @at_exit_installed = true
        at_exit { Stacksight.stop }
      end
    end

    def stopped(profiler)
      @profiler = nil if @profiler.equal?(profiler)
    end
  end
end

require_relative "stacksight/helper"
require_relative "stacksight/profiler"
require_relative "stacksight/configuration"
require_relative "stacksight/hooks"

Stacksight.start if Stacksight.env_enabled && !Stacksight.running?
