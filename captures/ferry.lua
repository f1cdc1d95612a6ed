-- Wireshark dissector for Ferry, TCP semantics over UDP (docs/protocol.md).
--
--   tshark -X lua_script:captures/ferry.lua -r capture.pcapng
--   wireshark -X lua_script:captures/ferry.lua capture.pcapng
--
-- or copy this file into Wireshark's personal plugins folder (Help > About > Folders).
--
-- It decodes UDP port 4747 (Ferry's default) and, on any other port, UDP payloads that start
-- with Ferry's magic 0x4652 and version 2 (a heuristic dissector). Version 1 datagrams, whose
-- octet 19 was reserved and which had no options, are decoded too.
--
-- Fields (all filterable):
--   ferry.magic, ferry.version, ferry.flags (ferry.flags.fin .syn .rst .ack), ferry.seq,
--   ferry.ack, ferry.window, ferry.len (payload length), ferry.sack.count,
--   ferry.options.len (in 4-octet words; ferry.reserved in version 1),
--   ferry.sack.le / ferry.sack.re (one pair per block), ferry.options (the options area),
--   ferry.option.kind / ferry.option.len (one pair per option), ferry.options.mss (the MSS
--   option's value), ferry.options.sack_perm (SACK-permitted is present),
--   ferry.options.tsval / ferry.options.tsecr (the Timestamps option's, RFC 7323), ferry.crc,
--   ferry.crc.status, ferry.crc.computed, ferry.payload.
--   ferry.seq, ferry.ack and ferry.sack.le/.re hold the raw values as carried on the wire.
--   ferry.seq.relative, ferry.ack.relative, ferry.sack.le.relative and ferry.sack.re.relative
--   are relative, as Wireshark shows TCP's: counted from the initial sequence number (the SYN's)
--   of the direction they belong to, so the SYN is 0 and the first data byte is 1. Without a
--   SYN in the capture, the first number seen in a direction counts as 1. The Info column
--   shows relative numbers.
--   ferry.crc.status: the CRC-32 recomputed here, as udp.checksum.status is: 0 bad, 1 good,
--   2 unverified (the datagram is too short, or is not Ferry version 1 or 2, whose receiver
--   checks magic and version before the CRC). A bad CRC is also expert info (ferry.crc.bad).
--
-- Validation follows docs/protocol.md section 6, in its order. Once the CRC is bad, nothing
-- else is reported as an error, since a flipped bit explains it; the fields are shown as far
-- as the bytes go.
--
-- Portable across Lua 5.2 (with bit32) and 5.3+ (native operators).

local ferry = Proto("ferry", "Ferry Protocol")

local FERRY_PORT = 4747
local MAGIC = 0x4652
local VERSION = 2
-- Version 1 is version 2 without options: its octet 19 was reserved.
local VERSION_WITHOUT_OPTIONS = 1
local HEADER_LEN = 24
local SACK_BLOCK_LEN = 8
local MAX_SACK_BLOCKS = 4
local OPTION_WORD_LEN = 4
local TWO_TO_32 = 4294967296

-- Option kinds: TCP's own (docs/protocol.md section 3.2).
local OPTION_END, OPTION_NOP, OPTION_MSS, OPTION_SACK_PERMITTED = 0, 1, 2, 4
local OPTION_TIMESTAMPS = 8
local OPTION_NAMES = { [OPTION_END] = "End of Option List", [OPTION_NOP] = "No-Operation",
    [OPTION_MSS] = "Maximum segment size", [OPTION_SACK_PERMITTED] = "SACK permitted",
    [OPTION_TIMESTAMPS] = "Timestamps" }
-- The length each known kind must have.
local OPTION_LENGTHS = { [OPTION_MSS] = 4, [OPTION_SACK_PERMITTED] = 2, [OPTION_TIMESTAMPS] = 10 }

local FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
local KNOWN_FLAGS = FIN + SYN + RST + ACK

local CRC_BAD, CRC_GOOD, CRC_UNVERIFIED = 0, 1, 2

-- Bit operations: bit32 in Lua 5.2; the native operators in Lua 5.3+, compiled with load() so
-- that a 5.2 parser never sees them.
local band, bxor, rshift
if bit32 then
    band, bxor, rshift = bit32.band, bit32.bxor, bit32.rshift
else
    band = load("return function(a, b) return a & b end")()
    bxor = load("return function(a, b) return a ~ b end")()
    rshift = load("return function(a, n) return a >> n end")()
end

local f = ferry.fields
f.magic = ProtoField.uint16("ferry.magic", "Magic", base.HEX)
f.version = ProtoField.uint8("ferry.version", "Version", base.DEC)
f.flags = ProtoField.uint8("ferry.flags", "Flags", base.HEX)
f.flag_ack = ProtoField.bool("ferry.flags.ack", "Acknowledgment", 8, nil, ACK)
f.flag_rst = ProtoField.bool("ferry.flags.rst", "Reset", 8, nil, RST)
f.flag_syn = ProtoField.bool("ferry.flags.syn", "Syn", 8, nil, SYN)
f.flag_fin = ProtoField.bool("ferry.flags.fin", "Fin", 8, nil, FIN)
f.seq = ProtoField.uint32("ferry.seq", "Sequence Number (raw)", base.DEC)
f.seq_relative = ProtoField.uint32("ferry.seq.relative", "Sequence Number (relative)", base.DEC)
f.ack = ProtoField.uint32("ferry.ack", "Acknowledgment Number (raw)", base.DEC)
f.ack_relative = ProtoField.uint32("ferry.ack.relative", "Acknowledgment Number (relative)", base.DEC)
f.window = ProtoField.uint32("ferry.window", "Window", base.DEC)
f.len = ProtoField.uint16("ferry.len", "Payload Length", base.DEC)
f.sack_count = ProtoField.uint8("ferry.sack.count", "SACK Count", base.DEC)
f.options_len = ProtoField.uint8("ferry.options.len", "Options Length (4-octet words)", base.DEC)
f.reserved = ProtoField.uint8("ferry.reserved", "Reserved", base.HEX)
f.options = ProtoField.bytes("ferry.options", "Options")
f.option_kind = ProtoField.uint8("ferry.option.kind", "Kind", base.DEC, OPTION_NAMES)
f.option_len = ProtoField.uint8("ferry.option.len", "Length", base.DEC)
f.option_mss = ProtoField.uint16("ferry.options.mss", "MSS Value", base.DEC)
f.option_sack_perm = ProtoField.bool("ferry.options.sack_perm", "SACK Permitted")
f.option_tsval = ProtoField.uint32("ferry.options.tsval", "Timestamp value", base.DEC)
f.option_tsecr = ProtoField.uint32("ferry.options.tsecr", "Timestamp echo reply", base.DEC)
f.crc = ProtoField.uint32("ferry.crc", "Checksum (CRC-32)", base.HEX)
f.crc_computed = ProtoField.uint32("ferry.crc.computed", "Computed CRC-32", base.HEX)
f.crc_status = ProtoField.uint8("ferry.crc.status", "Checksum Status", base.DEC,
    { [CRC_BAD] = "Bad", [CRC_GOOD] = "Good", [CRC_UNVERIFIED] = "Unverified" })
f.sack = ProtoField.bytes("ferry.sack", "SACK block")
f.sack_le = ProtoField.uint32("ferry.sack.le", "Left Edge (raw)", base.DEC)
f.sack_re = ProtoField.uint32("ferry.sack.re", "Right Edge (raw)", base.DEC)
f.sack_le_relative = ProtoField.uint32("ferry.sack.le.relative", "Left Edge (relative)", base.DEC)
f.sack_re_relative = ProtoField.uint32("ferry.sack.re.relative", "Right Edge (relative)", base.DEC)
f.payload = ProtoField.bytes("ferry.payload", "Payload")

local e = {
    crc_bad = ProtoExpert.new("ferry.crc.bad", "Bad CRC-32: the receiver drops this datagram",
        expert.group.CHECKSUM, expert.severity.ERROR),
    truncated = ProtoExpert.new("ferry.truncated", "Datagram shorter than its header",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_magic = ProtoExpert.new("ferry.bad_magic", "Not a Ferry datagram: bad magic",
        expert.group.PROTOCOL, expert.severity.WARN),
    bad_version = ProtoExpert.new("ferry.bad_version", "Unsupported Ferry version",
        expert.group.PROTOCOL, expert.severity.WARN),
    unknown_flags = ProtoExpert.new("ferry.unknown_flags", "Flag bits other than FIN, SYN, RST, ACK",
        expert.group.MALFORMED, expert.severity.ERROR),
    too_many_sack = ProtoExpert.new("ferry.too_many_sack", "More than 4 SACK blocks",
        expert.group.MALFORMED, expert.severity.ERROR),
    length_mismatch = ProtoExpert.new("ferry.length_mismatch",
        "Datagram length differs from what the header implies",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_option = ProtoExpert.new("ferry.option.bad",
        "Malformed option: it runs past the options, has a wrong length, or repeats",
        expert.group.MALFORMED, expert.severity.ERROR),
}
ferry.experts = { e.crc_bad, e.truncated, e.bad_magic, e.bad_version, e.unknown_flags,
    e.too_many_sack, e.length_mismatch, e.bad_option }

-- CRC-32/ISO-HDLC (docs/protocol.md section 4), table driven.
local crc_table = {}
for n = 0, 255 do
    local c = n
    for _ = 1, 8 do
        if band(c, 1) == 1 then
            c = bxor(0xEDB88320, rshift(c, 1))
        else
            c = rshift(c, 1)
        end
    end
    crc_table[n] = c
end

local function crc32_update(crc, bytes, first, last)
    for i = first, last do
        crc = bxor(crc_table[band(bxor(crc, bytes:byte(i)), 0xFF)], rshift(crc, 8))
    end
    return crc
end

-- The CRC of the datagram with its checksum field (octets 20 to 23) taken as zero.
local function ferry_crc(raw)
    local crc = 0xFFFFFFFF
    crc = crc32_update(crc, raw, 1, 20)
    crc = crc32_update(crc, "\0\0\0\0", 1, 4)
    crc = crc32_update(crc, raw, 25, #raw)
    return bxor(crc, 0xFFFFFFFF)
end

-- Relative numbers. For each direction of a conversation ("src:port>dst:port"), the base is
-- its initial sequence number. Computed in the first, in-order pass and kept per frame, since
-- Wireshark may dissect frames again in any order.
local bases = {}
local per_frame = {}

function ferry.init()
    bases = {}
    per_frame = {}
end

local function direction_key(src, src_port, dst, dst_port)
    return tostring(src) .. ":" .. src_port .. ">" .. tostring(dst) .. ":" .. dst_port
end

local function relative(value, base)
    if base == nil then
        return nil
    end
    return (value - base) % TWO_TO_32
end

local function flag_names(flags)
    local names = {}
    if band(flags, FIN) ~= 0 then names[#names + 1] = "FIN" end
    if band(flags, SYN) ~= 0 then names[#names + 1] = "SYN" end
    if band(flags, RST) ~= 0 then names[#names + 1] = "RST" end
    if band(flags, ACK) ~= 0 then names[#names + 1] = "ACK" end
    local unknown = band(flags, 0xFF - KNOWN_FLAGS)
    if unknown ~= 0 then names[#names + 1] = string.format("0x%02x", unknown) end
    if #names == 0 then return "<None>" end
    return table.concat(names, ", ")
end

local function known_version(version)
    return version == VERSION or version == VERSION_WITHOUT_OPTIONS
end

local function looks_like_ferry(tvb)
    return tvb:len() >= 3 and tvb(0, 2):uint() == MAGIC and known_version(tvb(2, 1):uint())
end

-- The options area (docs/protocol.md section 3.2), read as section 6 validates it: End stops,
-- NOP is one octet, any other kind has a length counting its kind and length octets; MSS is
-- 4 long, SACK-permitted 2 and Timestamps 10, each at most once; other kinds are skipped. Adds one subtree per
-- option and returns the Info column's text and an error (nil when the options are valid).
local function dissect_options(tvb, at, area_len, tree)
    local finish = at + area_len
    local text = {}
    local seen = {}
    while at < finish do
        local kind = tvb(at, 1):uint()
        if kind == OPTION_END or kind == OPTION_NOP then
            tree:add(f.option_kind, tvb(at, 1))
            if kind == OPTION_END then
                if finish - at > 1 then
                    tree:add(tvb(at + 1, finish - at - 1), "Padding")
                end
                return table.concat(text), nil
            end
            at = at + 1
        else
            if at + 1 >= finish then
                tree:add(f.option_kind, tvb(at, 1))
                return table.concat(text), string.format("Option of kind %d has no length octet", kind)
            end
            local len = tvb(at + 1, 1):uint()
            local shown = math.min(math.max(len, 2), finish - at)
            local option = tree:add(f.options, tvb(at, shown))
            option:set_text(OPTION_NAMES[kind] or string.format("Unknown option (kind %d)", kind))
            option:add(f.option_kind, tvb(at, 1))
            option:add(f.option_len, tvb(at + 1, 1))
            if len < 2 then
                return table.concat(text), string.format("Option of kind %d has length %d", kind, len)
            end
            if at + len > finish then
                return table.concat(text), string.format("Option of kind %d runs past the options", kind)
            end
            local own_len = OPTION_LENGTHS[kind]
            if own_len then
                if len ~= own_len then
                    return table.concat(text),
                        string.format("Option of kind %d has length %d, not %d", kind, len, own_len)
                end
                if seen[kind] then
                    return table.concat(text), string.format("Option of kind %d appears twice", kind)
                end
                seen[kind] = true
                if kind == OPTION_MSS then
                    local mss = tvb(at + 2, 2):uint()
                    option:add(f.option_mss, tvb(at + 2, 2))
                    option:append_text(": " .. mss .. " bytes")
                    text[#text + 1] = " MSS=" .. mss
                elseif kind == OPTION_SACK_PERMITTED then
                    option:add(f.option_sack_perm, tvb(at, 2), true)
                    text[#text + 1] = " SACK_PERM"
                else
                    local tsval, tsecr = tvb(at + 2, 4):uint(), tvb(at + 6, 4):uint()
                    option:add(f.option_tsval, tvb(at + 2, 4))
                    option:add(f.option_tsecr, tvb(at + 6, 4))
                    option:append_text(": TSval " .. tsval .. ", TSecr " .. tsecr)
                    -- Wireshark's TCP shows them so in its Info column.
                    text[#text + 1] = " TSval=" .. tsval .. " TSecr=" .. tsecr
                end
            end
            at = at + len
        end
    end
    return table.concat(text), nil
end

function ferry.dissector(tvb, pinfo, tree)
    local len = tvb:len()
    pinfo.cols.protocol = "FERRY"
    local ports = pinfo.src_port .. " → " .. pinfo.dst_port
    local root = tree:add(ferry, tvb(), "Ferry Protocol")

    -- Step 1: the fixed header must be there.
    if len < HEADER_LEN then
        root:add_proto_expert_info(e.truncated,
            string.format("Datagram of %d bytes is shorter than the %d-byte header", len, HEADER_LEN))
        if len > 0 then root:add(f.payload, tvb()) end
        root:add(f.crc_status, CRC_UNVERIFIED):set_generated()
        pinfo.cols.info = ports .. " [Truncated] Len=" .. len
        return len
    end

    local magic = tvb(0, 2):uint()
    local version = tvb(2, 1):uint()
    local flags = tvb(3, 1):uint()
    local seq = tvb(4, 4):uint()
    local ack = tvb(8, 4):uint()
    local window = tvb(12, 4):uint()
    local payload_len = tvb(16, 2):uint()
    local sack_count = tvb(18, 1):uint()
    local options_words = (version == VERSION) and tvb(19, 1):uint() or 0
    local carried_crc = tvb(20, 4):uint()

    root:add(f.magic, tvb(0, 2))
    root:add(f.version, tvb(2, 1))
    local flags_item = root:add(f.flags, tvb(3, 1))
    flags_item:append_text(" (" .. flag_names(flags) .. ")")
    flags_item:add(f.flag_ack, tvb(3, 1))
    flags_item:add(f.flag_rst, tvb(3, 1))
    flags_item:add(f.flag_syn, tvb(3, 1))
    flags_item:add(f.flag_fin, tvb(3, 1))

    -- Steps 2 to 4: magic and version say whether the CRC applies at all, then the CRC.
    local crc_status = CRC_UNVERIFIED
    local computed_crc
    if magic ~= MAGIC then
        root:add_proto_expert_info(e.bad_magic, string.format("Magic 0x%04x, not 0x%04x", magic, MAGIC))
    elseif not known_version(version) then
        root:add_proto_expert_info(e.bad_version, string.format("Version %d, not %d", version, VERSION))
    else
        computed_crc = ferry_crc(tvb:raw(0, len))
        crc_status = (computed_crc == carried_crc) and CRC_GOOD or CRC_BAD
    end

    -- Relative numbers, from the first pass.
    local numbers = per_frame[pinfo.number]
    if not pinfo.visited then
        local forward = direction_key(pinfo.src, pinfo.src_port, pinfo.dst, pinfo.dst_port)
        local reverse = direction_key(pinfo.dst, pinfo.dst_port, pinfo.src, pinfo.src_port)
        if crc_status == CRC_GOOD then
            -- A SYN names its direction's ISN (a new one: a new connection); otherwise the
            -- first number seen counts as 1, as after a SYN.
            if band(flags, SYN) ~= 0 then
                bases[forward] = seq
            elseif bases[forward] == nil then
                bases[forward] = (seq - 1) % TWO_TO_32
            end
            if band(flags, ACK) ~= 0 and bases[reverse] == nil then
                bases[reverse] = (ack - 1) % TWO_TO_32
            end
        end
        numbers = { seq_base = bases[forward], ack_base = bases[reverse] }
        per_frame[pinfo.number] = numbers
    end
    numbers = numbers or {}
    local seq_relative = relative(seq, numbers.seq_base)
    local ack_relative = relative(ack, numbers.ack_base)

    root:add(f.seq, tvb(4, 4))
    if seq_relative then root:add(f.seq_relative, tvb(4, 4), seq_relative):set_generated() end
    root:add(f.ack, tvb(8, 4))
    if ack_relative and band(flags, ACK) ~= 0 then
        root:add(f.ack_relative, tvb(8, 4), ack_relative):set_generated()
    end
    root:add(f.window, tvb(12, 4))
    root:add(f.len, tvb(16, 2))
    root:add(f.sack_count, tvb(18, 1))
    if version == VERSION then
        root:add(f.options_len, tvb(19, 1)):append_text(string.format(" (%d octets)",
            options_words * OPTION_WORD_LEN))
    else
        root:add(f.reserved, tvb(19, 1))
    end
    local crc_item = root:add(f.crc, tvb(20, 4))
    if computed_crc then
        root:add(f.crc_computed, tvb(20, 4), computed_crc):set_generated()
    end
    root:add(f.crc_status, tvb(20, 4), crc_status):set_generated()
    if crc_status == CRC_BAD then
        crc_item:add_proto_expert_info(e.crc_bad,
            string.format("Bad CRC-32: carried 0x%08x, computed 0x%08x", carried_crc, computed_crc))
    end

    -- Steps 5 to 8 report errors only for a datagram whose CRC holds; the fields are read
    -- only as far as the bytes go, so nothing here can raise an exception.
    local trusted = crc_status == CRC_GOOD
    if trusted and band(flags, 0xFF - KNOWN_FLAGS) ~= 0 then
        flags_item:add_proto_expert_info(e.unknown_flags)
    end
    if trusted and sack_count > MAX_SACK_BLOCKS then
        root:add_proto_expert_info(e.too_many_sack, sack_count .. " SACK blocks")
    end
    local blocks = math.min(sack_count, MAX_SACK_BLOCKS, math.floor((len - HEADER_LEN) / SACK_BLOCK_LEN))
    local sack_text = {}
    for i = 0, blocks - 1 do
        local at = HEADER_LEN + i * SACK_BLOCK_LEN
        local left, right = tvb(at, 4):uint(), tvb(at + 4, 4):uint()
        local left_relative, right_relative = relative(left, numbers.ack_base), relative(right, numbers.ack_base)
        local block = root:add(f.sack, tvb(at, SACK_BLOCK_LEN))
        block:add(f.sack_le, tvb(at, 4))
        block:add(f.sack_re, tvb(at + 4, 4))
        if left_relative then
            block:add(f.sack_le_relative, tvb(at, 4), left_relative):set_generated()
            block:add(f.sack_re_relative, tvb(at + 4, 4), right_relative):set_generated()
            block:set_text(string.format("SACK block: %d-%d (relative)", left_relative, right_relative))
        else
            left_relative, right_relative = left, right
            block:set_text(string.format("SACK block: %d-%d", left, right))
        end
        sack_text[#sack_text + 1] = string.format(" SLE=%d SRE=%d", left_relative, right_relative)
    end
    local options_at = HEADER_LEN + blocks * SACK_BLOCK_LEN
    local options_len = math.min(options_words * OPTION_WORD_LEN, len - options_at)
    local options_text = ""
    if options_len > 0 then
        local area = root:add(f.options, tvb(options_at, options_len))
        area:set_text(string.format("Options: (%d bytes)", options_len))
        local problem
        options_text, problem = dissect_options(tvb, options_at, options_len, area)
        if trusted and problem then
            area:add_proto_expert_info(e.bad_option, problem)
        end
    end
    local payload_at = options_at + options_len
    local expected_len = HEADER_LEN + sack_count * SACK_BLOCK_LEN + options_words * OPTION_WORD_LEN
        + payload_len
    if trusted and sack_count <= MAX_SACK_BLOCKS and expected_len ~= len then
        root:add_proto_expert_info(e.length_mismatch,
            string.format("Header implies %d bytes, the datagram has %d", expected_len, len))
    end
    if payload_at < len then
        root:add(f.payload, tvb(payload_at, len - payload_at))
    end

    local shown_len = len - payload_at
    local seq_shown = seq_relative or seq
    root:append_text(string.format(", Src Port: %d, Dst Port: %d, Seq: %d, Len: %d",
        pinfo.src_port, pinfo.dst_port, seq_shown, shown_len))
    local info = {}
    if crc_status == CRC_BAD then info[#info + 1] = "[BAD CRC]" end
    if magic ~= MAGIC or not known_version(version) then info[#info + 1] = "[Not Ferry]" end
    info[#info + 1] = ports
    info[#info + 1] = "[" .. flag_names(flags) .. "]"
    info[#info + 1] = "Seq=" .. seq_shown
    if band(flags, ACK) ~= 0 then info[#info + 1] = "Ack=" .. (ack_relative or ack) end
    info[#info + 1] = "Win=" .. window
    info[#info + 1] = "Len=" .. shown_len .. options_text .. table.concat(sack_text)
    pinfo.cols.info = table.concat(info, " ")
    return len
end

DissectorTable.get("udp.port"):add(FERRY_PORT, ferry)

-- Ferry on other ports: claim a UDP payload that starts with the magic and a known version.
local function heuristic(tvb, pinfo, tree)
    if tvb:len() < HEADER_LEN or not looks_like_ferry(tvb) then
        return false
    end
    ferry.dissector(tvb, pinfo, tree)
    return true
end
ferry:register_heuristic("udp", heuristic)
