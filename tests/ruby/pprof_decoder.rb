# pprof_decoder.rb - reads pprof files with google-protobuf's runtime and a
# descriptor written from the pprof spec (field numbers in
# docs/profiling-facts.md §1), independent of the project's encoder.
require "google/protobuf"
require "zlib"
require "stringio"

Google::Protobuf::DescriptorPool.generated_pool.build do
  add_message "pp.ValueType" do
    optional :type, :int64, 1
    optional :unit, :int64, 2
  end
  add_message "pp.Label" do
    optional :key, :int64, 1
    optional :str, :int64, 2
    optional :num, :int64, 3
    optional :num_unit, :int64, 4
  end
  add_message "pp.Sample" do
    repeated :location_id, :uint64, 1
    repeated :value, :int64, 2
    repeated :label, :message, 3, "pp.Label"
  end
  add_message "pp.Line" do
    optional :function_id, :uint64, 1
    optional :line, :int64, 2
  end
  add_message "pp.Location" do
    optional :id, :uint64, 1
    optional :mapping_id, :uint64, 2
    optional :address, :uint64, 3
    repeated :line, :message, 4, "pp.Line"
  end
  add_message "pp.Function" do
    optional :id, :uint64, 1
    optional :name, :int64, 2
    optional :system_name, :int64, 3
    optional :filename, :int64, 4
    optional :start_line, :int64, 5
  end
  add_message "pp.Profile" do
    repeated :sample_type, :message, 1, "pp.ValueType"
    repeated :sample, :message, 2, "pp.Sample"
    repeated :location, :message, 4, "pp.Location"
    repeated :function, :message, 5, "pp.Function"
    repeated :string_table, :string, 6
    optional :time_nanos, :int64, 9
    optional :duration_nanos, :int64, 10
    optional :period, :int64, 12
  end
end

module PprofDecoder
  # Classes are made on first msgclass call; sub-messages need theirs too.
  %w[ValueType Label Sample Line Location Function].each do |m|
    Google::Protobuf::DescriptorPool.generated_pool.lookup("pp.#{m}").msgclass
  end
  ProfileMsg = Google::Protobuf::DescriptorPool.generated_pool.lookup("pp.Profile").msgclass

  # One decoded sample: values by type name, stack of function names (leaf
  # first), labels by key (String or Integer).
  Sample = Struct.new(:values, :stack, :labels)

  def self.read(path)
    data = File.binread(path)
    data = Zlib::GzipReader.new(StringIO.new(data)).read if data.start_with?("\x1f\x8b".b)
    decode(data)
  end

  def self.decode(bytes)
    prof = ProfileMsg.decode(bytes)
    st = prof.string_table.to_a
    raise "string_table[0] must be empty" unless st.first == ""
    types = prof.sample_type.to_a.map { |t| st[t.type] }
    funcs = prof.function.to_a.to_h { |f| [f.id, st[f.name]] }
    locs = prof.location.to_a.to_h { |l| [l.id, l.line.to_a.map { |ln| funcs.fetch(ln.function_id) }] }
    prof.sample.to_a.map do |s|
      raise "sample has #{s.value.size} values for #{types.size} types" unless s.value.size == types.size
      labels = s.label.to_a.to_h { |l| [st[l.key], l.str != 0 ? st[l.str] : l.num] }
      Sample.new(types.zip(s.value.to_a).to_h, s.location_id.to_a.flat_map { |id| locs.fetch(id) }, labels)
    end
  end
end
