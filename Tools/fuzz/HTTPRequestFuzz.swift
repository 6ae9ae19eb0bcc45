// libFuzzer entry for the metrics endpoint's request parsing: the bytes come from anyone who can
// reach --metrics-listen. Built by Tools/fuzz.sh together with Sources/ProbeDaemon/Metrics/HTTPRequestHead.swift.
// Mirrors MetricsServer.readHead: the input arrives in chunks; the head ends at the first blank line
// and is refused past 8192 bytes; a complete head is routed.

@_cdecl("LLVMFuzzerTestOneInput")
public func httpRequestFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    var head: [UInt8] = []
    var offset = 0
    // Chunk sizes vary with the input so the incremental search (`from:`) is exercised across splits.
    let step = max(1, Int(input.first ?? 1) % 17)
    while offset < input.count {
        let end = min(input.count, offset + step)
        let searchFrom = max(0, head.count - 3)
        head.append(contentsOf: input[offset..<end])
        offset = end
        if let stop = HTTPRequestHead.endOfHead(head, from: searchFrom) {
            precondition(stop <= head.count, "endOfHead past the end")
            _ = HTTPRequestHead.route(Array(head[0..<stop]))
            return 0
        }
        if head.count > 8192 { return 0 }
    }
    _ = HTTPRequestHead.route(head)  // a head without its blank line: route must not trap either
    return 0
}
