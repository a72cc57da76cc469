# pprof_decoder.rb - reads pprof files with a protobuf wire-format reader of
# its own and the field numbers of the pprof spec (docs/profiling-facts.md
# §1), independent of the project's encoder. Plain Ruby, so the suite runs on
# every Ruby version under test without a compiled protobuf gem (Debian ships
# google-protobuf's extension for its default Ruby only).
require "zlib"
require "stringio"

module PprofDecoder
  # One decoded sample: values by type name, stack of function names (leaf
  # first), labels by key (String or Integer).
  Sample = Struct.new(:values, :stack, :labels)

  # Protobuf wire format: a message is a list of (field number, value);
  # varints for integers, length-delimited for strings, messages and packed
  # repeated integers.
  module Wire
    module_function

    def varint(buf, pos)
      result = shift = 0
      loop do
        byte = buf.getbyte(pos) or raise "truncated varint at #{pos}"
        pos += 1
        result |= (byte & 0x7f) << shift
        return [result, pos] if byte < 0x80
        shift += 7
        raise "varint too long at #{pos}" if shift > 63
      end
    end

    def int64(v) = v >= (1 << 63) ? v - (1 << 64) : v

    # { field number => [values] }; length-delimited values are Strings.
    def fields(buf)
      out = Hash.new { |h, k| h[k] = [] }
      pos = 0
      while pos < buf.bytesize
        key, pos = varint(buf, pos)
        field, type = key >> 3, key & 7
        case type
        when 0 then v, pos = varint(buf, pos)
        when 1 then v = buf.byteslice(pos, 8).unpack1("Q<"); pos += 8
        when 2
          len, pos = varint(buf, pos)
          raise "field #{field} runs past the end" if pos + len > buf.bytesize
          v = buf.byteslice(pos, len); pos += len
        when 5 then v = buf.byteslice(pos, 4).unpack1("L<"); pos += 4
        else raise "wire type #{type} of field #{field} is not protobuf"
        end
        out[field] << v
      end
      out
    end

    # A repeated integer field, packed (one String) or not (varints).
    def ints(values)
      values.flat_map do |v|
        next [int64(v)] if v.is_a?(Integer)
        list, pos = [], 0
        while pos < v.bytesize
          n, pos = varint(v, pos)
          list << int64(n)
        end
        list
      end
    end

    def int(values) = int64(values.last || 0)
  end

  def self.read(path)
    data = File.binread(path)
    data = Zlib::GzipReader.new(StringIO.new(data)).read if data.start_with?("\x1f\x8b".b)
    decode(data)
  end

  def self.decode(bytes)
    prof = Wire.fields(bytes.b)
    st = prof[6].map { |s| s.dup.force_encoding(Encoding::UTF_8) }
    raise "string_table[0] must be empty" unless st.first == ""
    types = prof[1].map { |t| st.fetch(Wire.int(Wire.fields(t)[1])) }
    funcs = prof[5].to_h { |f| f = Wire.fields(f); [Wire.int(f[1]), st.fetch(Wire.int(f[2]))] }
    locs = prof[4].to_h do |l|
      l = Wire.fields(l)
      [Wire.int(l[1]), l[4].map { |ln| funcs.fetch(Wire.int(Wire.fields(ln)[1])) }]
    end
    prof[2].map do |s|
      s = Wire.fields(s)
      values = Wire.ints(s[2])
      raise "sample has #{values.size} values for #{types.size} types" unless values.size == types.size
      labels = s[3].to_h do |l|
        l = Wire.fields(l)
        str = Wire.int(l[2])
        [st.fetch(Wire.int(l[1])), str != 0 ? st.fetch(str) : Wire.int(l[3])]
      end
      Sample.new(types.zip(values).to_h, Wire.ints(s[1]).flat_map { |id| locs.fetch(id) }, labels)
    end
  end
end
