
/// The metrics endpoint's request parsing: pure functions over the bytes a peer sent, so the
/// unit tests and the libFuzzer target (Tools/fuzz/HTTPRequestFuzz.swift) reach them without sockets.
enum HTTPRequestHead {
    struct HTTPError: Error, Equatable {
        var status: Int
        var message: String
    }

    /// The index just past the blank line ending a request head (CRLF CRLF, or bare LF LF).
    static func endOfHead(_ bytes: [UInt8], from start: Int) -> Int? {
        var i = start
        while i < bytes.count {
            if bytes[i] == 10 {
                if i + 1 < bytes.count && bytes[i + 1] == 10 { return i + 2 }
                if i + 2 < bytes.count && bytes[i + 1] == 13 && bytes[i + 2] == 10 { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    /// Decides what a request head gets: `.success(headOnly)` for the metrics, else the error.
    static func route(_ head: [UInt8]) -> Result<Bool, HTTPError> {
        // Split on bytes: as Characters, "\r\n" is one grapheme and would not split on "\n".
        var lines: [Substring] = []
        for raw in head.split(separator: 10, omittingEmptySubsequences: false) {
            let bytes = raw.last == 13 ? raw.dropLast() : raw
            guard let line = String(validating: bytes, as: UTF8.self) else {
                return .failure(HTTPError(status: 400, message: "the request is not valid UTF-8"))
            }
            lines.append(Substring(line))
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else {
            return .failure(HTTPError(status: 400, message: "empty request"))
        }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && ($0.isUppercase || $0 == "-") }),
              parts[1].hasPrefix("/") || parts[1] == "*"
        else {
            return .failure(HTTPError(status: 400, message: "malformed request line; expected e.g. GET /metrics HTTP/1.1"))
        }
        let (method, target, version) = (parts[0], parts[1], parts[2])
        guard version.hasPrefix("HTTP/") else {
            return .failure(HTTPError(status: 400, message: "malformed request line; expected e.g. GET /metrics HTTP/1.1"))
        }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return .failure(HTTPError(status: 505, message: "\(version) is not supported; use HTTP/1.1"))
        }
        var bodyPresent = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex, !line.first!.isWhitespace else {
                return .failure(HTTPError(status: 400, message: "malformed header line"))
            }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            if name == "content-length" {
                guard let length = UInt64(value) else {
                    return .failure(HTTPError(status: 400, message: "Content-Length \"\(value)\" is not a number"))
                }
                if length > 0 { bodyPresent = true }
            } else if name == "transfer-encoding" {
                bodyPresent = true
            }
        }
        guard method == "GET" || method == "HEAD" else {
            return .failure(HTTPError(status: 405, message: "\(method) is not allowed; use GET"))
        }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard path == "/metrics" else {
            return .failure(HTTPError(status: 404, message: "nothing at \(path); the metrics are at /metrics"))
        }
        guard !bodyPresent else {
            return .failure(HTTPError(status: 413, message: "a \(method) request carries no body"))
        }
        return .success(method == "HEAD")
    }
}
