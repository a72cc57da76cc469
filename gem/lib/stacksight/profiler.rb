# profiler.rb - Stacksight::Profiler, the manual API (start / stop).
module Stacksight
  class Profiler
    attr_reader :options

    # Every keyword is optional; unset ones come from the environment (DD_*)
    # or the core's defaults. Unknown keywords raise ArgumentError.
    #   env, service, version: strings sent as tags
    #   tags: {"team" => "web"} or "team:web,tier:1"
    #   url: agent URL (http://host:port or unix:///path)
    #   output_pprof: file prefix; profiles are written to <prefix>.<pid>.<seq>.pprof
    #   upload_period: seconds per profile; sample_hz; max_frames;
    #   overhead_target_percentage: CPU budget in % of one core
    #   exception_enabled, lock_enabled, allocation_enabled, heap_enabled: true/false
    #   (DD_PROFILING_*_ENABLED); capture_pct: % of lock acquisitions recorded;
    #   heap_sample_size: mean bytes (40 per object) between allocation samples
    def initialize(env: nil, service: nil, version: nil, tags: nil, url: nil, output_pprof: nil,
                   upload_period: nil, sample_hz: nil, max_frames: nil, overhead_target_percentage: nil,
                   exception_enabled: nil, lock_enabled: nil, allocation_enabled: nil, heap_enabled: nil,
                   capture_pct: nil, heap_sample_size: nil)
      @options = {
        env: env, service: service, version: version, tags: tags, url: url, output_pprof: output_pprof,
        upload_period: upload_period, sample_hz: sample_hz, max_frames: max_frames,
        overhead_target_percentage: overhead_target_percentage,
        exception_enabled: exception_enabled, lock_enabled: lock_enabled,
        allocation_enabled: allocation_enabled, heap_enabled: heap_enabled,
        capture_pct: capture_pct, heap_sample_size: heap_sample_size
      }.compact
      unless tags.nil? || tags.is_a?(Hash) || tags.is_a?(String)
        raise ArgumentError, "tags must be a Hash or a \"k:v,k:v\" String, not #{tags.class}"
      end
      @started = false
    end

    # Start profiling. Returns true, or false after logging why not (the
    # application always goes on). Raises ArgumentError for invalid values.
    def start
      reason = Stacksight.unsupported_reason
      if reason
        Stacksight.logger.warn("stacksight: not profiling: #{reason}")
        return false
      end
      why = Native.start(@options.merge(default_service: File.basename($PROGRAM_NAME.to_s)))
      Stacksight.drain_logs
      if why
        Stacksight.logger.warn("stacksight: not profiling: #{why}")
        return false
      end
      @started = true
      if Native.lock_recording?
        require_relative "lock_tracking"
        LockTracking.install
      end
      Stacksight.__send__(:started, self)
      Hooks.before_ractors if defined?(Ractor) && Ractor.respond_to?(:count) && Ractor.count > 1
      true
    end

    # Stop and (by default) send or write the last profile.
    def stop(flush: true)
      return unless @started
      @started = false
      Stacksight.check_ractors
      Helper.stop
      Native.stop(flush)
      Stacksight.drain_logs
      Stacksight.__send__(:stopped, self)
      nil
    end

    def running?
      @started && Native.running?
    end

    # Counters of the sampler (signals sent, stacks torn, ticks...).
    def stats
      Stacksight.native? ? Native.stats : {}
    end
  end
end
