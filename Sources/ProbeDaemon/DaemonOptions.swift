import ProbePosix

/// probed's settings, from its command line.
public struct DaemonOptions: Sendable, Equatable {
    public var socketPath: String? = nil
    public var warmup = 10
    public var logLevel = Log.Level.info
    /// `--metrics-listen`: where to serve Prometheus metrics; nil (the default) serves none.
    public var metricsAddress: TCPAddress? = nil

    public init() {}

    public struct UsageError: Error, CustomStringConvertible {
        public var description: String
    }

    public static let usage = """
        usage: probed [--socket PATH] [--warmup N] [--log-level error|warning|info|debug]
                      [--metrics-listen ADDRESS:PORT]
               probed --version | --help

          --socket PATH     listen here (env PROBED_SOCKET; default: $RUNTIME_DIRECTORY/probed.sock
                            under systemd, else $XDG_RUNTIME_DIR/probed.sock, else /tmp/probed-<uid>.sock)
          --warmup N        keep the first N calls of each series out of latency figures (default 10)
          --log-level L     least severe level logged (default info)
          --metrics-listen ADDRESS:PORT
                            serve Prometheus metrics at http://ADDRESS:PORT/metrics (default: off);
                            e.g. 127.0.0.1:9464, [::1]:9464, or :9464 for every interface
        """

    /// Parses `arguments` (without the program name). Throws a message naming the bad argument.
    public static func parse(_ arguments: [String]) throws(UsageError) -> DaemonOptions {
        var o = DaemonOptions()
        var i = 0
        func value(_ flag: String) throws(UsageError) -> String {
            i += 1
            guard i < arguments.count else { throw UsageError(description: "\(flag) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            let arg = arguments[i]
            var (flag, inline) = (arg, String?.none)
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                flag = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            func take() throws(UsageError) -> String { if let inline { return inline }; return try value(flag) }
            switch flag {
            case "--socket":
                let path = try take()
                guard !path.isEmpty, path.utf8.count < 108 else {
                    throw UsageError(description: "--socket: the path must be 1 to 107 bytes long (a Unix socket limit)")
                }
                o.socketPath = path
            case "--warmup":
                let text = try take()
                guard let n = Int(text), n >= 0, n <= 1_000_000 else {
                    throw UsageError(description: "--warmup: \"\(text)\" is not a whole number from 0 to 1000000")
                }
                o.warmup = n
            case "--log-level":
                let text = try take()
                guard let level = Log.Level(name: text) else {
                    throw UsageError(description: "--log-level: \"\(text)\" is not one of error, warning, info, debug")
                }
                o.logLevel = level
            case "--metrics-listen":
                let text = try take()
                do {
                    o.metricsAddress = try TCPAddress(parsing: text)
                } catch {
                    throw UsageError(description: "--metrics-listen: \(error)")
                }
            default:
                throw UsageError(description: "unknown argument \"\(arg)\"")
            }
            i += 1
        }
        return o
    }
}
