# lock_tracking.rb - the lock profiles for Monitor and MonitorMixin.
#
# Thread::Mutex is wrapped in C (ext/stacksight/mutexes.c). Monitor is a C
# class that locks its own Mutex through C calls no wrapper sees, so its
# methods are wrapped here, in Ruby, where `super` carries the block. An
# unsampled call costs one C call (Native.lock_sample? / lock_held?) besides
# the dispatch. Re-entry (enter while owning) is not an acquisition and an
# exit that leaves the monitor owned is not a release: only the outermost
# pair is recorded. wait_for_cond (MonitorMixin::ConditionVariable#wait)
# releases the monitor, then re-acquires it; the wait counts as lock wait.
# Sampling and recording are mutexes.c's (see there for what is measured).
require "monitor"

module Stacksight
  module LockTracking
    module MonitorMethods
      def initialize(*args, **kwargs, &block)
        super
        Native.lock_site(self)
      end

      def enter
        t0 = Native.lock_sample? or return super
        owned = mon_owned?
        result = super
        Native.lock_acquired(self, t0) unless owned
        result
      end

      def try_enter
        Native.lock_sample? or return super
        owned = mon_owned?
        result = super
        Native.lock_acquired(self, nil) if result && !owned
        result
      end

      def exit
        return super unless Native.lock_held?
        result = super
        Native.lock_released(self) unless mon_owned?
        result
      end

      def synchronize
        t0 = Native.lock_sample? or return super
        owned = mon_owned?
        super() do
          Native.lock_acquired(self, t0) unless owned
          begin
            yield
          ensure
            Native.lock_released(self) unless owned
          end
        end
      end

      def wait_for_cond(cond, timeout)
        Native.lock_released(self) if Native.lock_held?
        t0 = Native.lock_sample? or return super
        result = super
        Native.lock_acquired(self, t0)
        result
      end

      alias_method :mon_enter, :enter
      alias_method :mon_exit, :exit
      alias_method :mon_try_enter, :try_enter
      alias_method :try_mon_enter, :try_enter
      alias_method :mon_synchronize, :synchronize
    end

    class << self
      # Once per process, when a profiler with locks on starts.
      def install
        return if @installed
        @installed = true
        ::Monitor.prepend(MonitorMethods)
      end
    end
  end
end
