// libFuzzer entry for the control-request parser: the JSON text of a CONTROL_REQUEST comes from
// any peer allowed to connect. Built by Tools/fuzz.sh together with Sources/ProbeDaemon/Control/ControlRequest.swift.
// Mirrors the daemon: the wire decoder admits at most 4096 bytes of valid UTF-8, then the request is
// parsed and each command's arguments are read the way ControlServer reads them.
import FoundationEssentials

@_cdecl("LLVMFuzzerTestOneInput")
public func controlRequestFuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard size <= 4096, size > 0,
          let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self),
          let request = try? ControlRequest.parse(text)
    else { return 0 }
    _ = try? request.operationFilter()
    _ = try? request.thresholdArguments()
    _ = request.follows
    _ = request.arguments["window"]?.string
    return 0
}
