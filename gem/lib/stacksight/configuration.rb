# configuration.rb - Stacksight.configure { |c| ... }, the block form users of
# Datadog's tracer know (c.profiling.enabled, c.env, c.service, c.version).
module Stacksight
  class Configuration
    # c.profiling.*: what Profiler.new takes besides the unified service tags.
    class Profiling
      attr_accessor :enabled, :upload_period, :output_pprof, :sample_hz, :max_frames,
                    :overhead_target_percentage
      # Profile types (nil: DD_PROFILING_*_ENABLED decides) and their sampling.
      attr_accessor :exception_enabled, :lock_enabled, :allocation_enabled, :heap_enabled,
                    :capture_pct, :heap_sample_size
    end

    attr_accessor :env, :service, :version, :tags
    attr_accessor :agent_url

    def profiling
      @profiling ||= Profiling.new
    end

    # Profiler keyword arguments for the values set so far.
    def to_options
      p = profiling
      {
        env: env, service: service, version: version, tags: tags, url: agent_url,
        output_pprof: p.output_pprof, upload_period: p.upload_period, sample_hz: p.sample_hz,
        max_frames: p.max_frames, overhead_target_percentage: p.overhead_target_percentage,
        exception_enabled: p.exception_enabled, lock_enabled: p.lock_enabled,
        allocation_enabled: p.allocation_enabled, heap_enabled: p.heap_enabled,
        capture_pct: p.capture_pct, heap_sample_size: p.heap_sample_size
      }.compact
    end

    # Called at the end of Stacksight.configure: (re)start or stop.
    def apply
      case profiling.enabled
      when true
        Stacksight.stop if Stacksight.running?
        Stacksight.start(**to_options)
      when false
        Stacksight.stop
      end
    end
  end
end
