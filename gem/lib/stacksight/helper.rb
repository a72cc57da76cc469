# helper.rb - the one Ruby thread stacksight runs.
#
# Stacks captured by the signal handler hold raw frame objects; naming them
# needs the GVL, and the core's warnings must reach a Ruby Logger (which takes
# a Mutex and does IO). Neither is safe inside a signal handler or a postponed
# job, so both happen here, on an ordinary thread that sleeps on a pipe the
# sidecar writes to (at most every 50 ms while stacks wait, or when a warning
# is queued). It is excluded from sampling.
#
# After PARK_AFTER quiet waits it parks instead (ext/stacksight/park.c): it
# pops an empty Queue, a sleep Ruby's deadlock detector counts, so a program
# whose threads all block on each other still ends with Ruby's fatal
# "No live threads left. Deadlock?" under the profiler. The next stack an
# application thread records pushes to the queue.
require "io/wait"

module Stacksight
  module Helper
    class << self
      def start
        stop
        fd = Native.wake_fd or return
        io = IO.for_fd(fd, autoclose: false)
        @stopping = false
        @wake = Thread::Queue.new
        @thread = Thread.new { run(io, @wake) }
      end

      def stop
        thread = @thread
        return unless thread
        @thread = nil
        @stopping = true
        if thread.alive?
          Native.wake
          @wake << true
        end
        begin
          thread.join(2) unless thread.equal?(Thread.current)
        rescue Exception # rubocop:disable Lint/RescueException
          nil   # the helper's own failure is not the caller's
        end
      end

      # In a forked child the thread does not exist any more.
      def forget
        @thread = nil
      end

      private

      PARK_AFTER = 2   # quiet waits of WAIT_S before parking (deadlock detection delay)
      WAIT_S = 0.5

      def run(io, wake)
        Thread.current.name = "stacksight"
        Thread.current.report_on_exception = false
        Native.exclude_current_thread
        quiet = 0
        until @stopping
          if quiet >= PARK_AFTER && Native.park(wake)
            wake.pop
            Native.unpark
            wake.clear
            quiet = 0
            next
          end
          woken = io.wait_readable(WAIT_S)
          begin
            io.read_nonblock(4096)
          rescue IO::WaitReadable, EOFError
            nil
          end
          resolved = Native.resolve
          Stacksight.drain_logs
          Stacksight.check_ractors
          quiet = woken || resolved > 0 ? 0 : quiet + 1
        end
      rescue IOError, SystemCallError
        nil   # pipe replaced or closed: a new helper takes over
      rescue StandardError => e
        Stacksight.logger.warn("stacksight: helper thread stopped: #{e.class}: #{e.message}") rescue nil
      end
    end
  end
end
