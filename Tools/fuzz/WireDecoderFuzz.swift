// libFuzzer entry for the wire decoder: every byte of a message on probed's ingest and control
// sockets comes from a peer. Built by Tools/fuzz.sh together with Sources/ProbeWire/*.swift.
// Property: decode never traps, and a decoded EVENTS or MEMORY message re-encodes to the same bytes.

@_cdecl("LLVMFuzzerTestOneInput")
public func wireDecoderFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    guard let message = try? WireDecoder.decode(bytes) else { return 0 }
    switch message {
    case .events(let dropped, let records):
        precondition(WireEncoder.events(droppedTotal: dropped, records: records) == bytes, "EVENTS does not round-trip")
    case .memoryDeltas(let dropped, let records):
        precondition(WireEncoder.memoryDeltas(droppedTotal: dropped, records: records) == bytes, "MEMORY does not round-trip")
    default:
        break
    }
    return 0
}
