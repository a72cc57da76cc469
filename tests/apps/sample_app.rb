# A small order-processing service used by `make demo` (the Ruby twin of
# sample_app.py): CPU-heavy pricing, JSON encoding, worker threads on a queue
# and a shared mutex, slow "database" calls and rejected orders raising.
# Runs for the number of seconds given as the first argument.
require "json"

PRICE_CACHE = {}
CACHE_LOCK = Mutex.new
ORDERS = Queue.new

class InvalidOrder < StandardError; end

def price_item(sku, quantity)
  price = 0.0
  400.times { |step| price += ((sku * 31 + step) % 97) * 0.01 * quantity }
  price.round(2)
end

def validate(order)
  raise InvalidOrder, "order #{order[:id]}: quantity must be positive" if order[:quantity] <= 0
  order
end

def price_order(order)
  order[:items].sum do |sku|
    key = [sku, order[:quantity]]
    cached = CACHE_LOCK.synchronize { PRICE_CACHE[key] }
    unless cached
      cached = price_item(sku, order[:quantity])
      CACHE_LOCK.synchronize { PRICE_CACHE[key] = cached if PRICE_CACHE.size < 50_000 }
    end
    cached
  end
end

def save_to_database(order, total)
  sleep 0.002 # a network round trip
  JSON.generate(order: order, total: total)
end

def worker
  while (order = ORDERS.pop)
    begin
      save_to_database(order, price_order(validate(order)))
    rescue InvalidOrder
      nil
    end
  end
end

def produce_orders(seconds)
  rng = Random.new(7)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
  id = 0
  while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    id += 1
    ORDERS << { id: id, quantity: rng.rand(-1..20), items: Array.new(rng.rand(1..8)) { rng.rand(1..5000) } }
    sleep 0.01 if ORDERS.size > 200
  end
end

seconds = (ARGV[0] || 20).to_f
workers = 4.times.map { |i| Thread.new { worker }.tap { |t| t.name = "order-worker-#{i}" } }
produce_orders(seconds)
workers.size.times { ORDERS << nil }
workers.each(&:join)
puts "sample app: priced #{PRICE_CACHE.size} distinct items"
