#if canImport(Glibc)
import Glibc
#endif
import ProbeControl
import ProbePosix
import Synchronization

/// One line per event on stderr. Under systemd (`$JOURNAL_STREAM` or `$INVOCATION_ID` set) each
/// line starts with its syslog priority (`<3>` error … `<7>` debug) so journald keeps the level.
/// Control characters in a message (peers choose error texts, attributes and names) are written
/// visibly, `\x1b` for ESC (`escapingControlCharacters()`): a line is always one line, and
/// nothing a client sends reaches an operator's terminal as a command.
public final class Log: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case error = 3, warning = 4, info = 6, debug = 7
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public init?(name: String) {
            switch name.lowercased() {
            case "error": self = .error
            case "warning", "warn": self = .warning
            case "info": self = .info
            case "debug": self = .debug
            default: return nil
            }
        }
        var name: String {
            switch self {
            case .error: "error"
            case .warning: "warning"
            case .info: "info"
            case .debug: "debug"
            }
        }
    }

    private let threshold: Atomic<Int>
    let journal: Bool
    private let lock = Mutex(())

    public init(level: Level = .info) {
        threshold = Atomic(level.rawValue)
        journal = Log.underSystemd
    }

    public var level: Level {
        get { Level(rawValue: threshold.load(ordering: .relaxed)) ?? .info }
        set { threshold.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// Whether probed runs under systemd, whose journal reads each line's priority prefix.
    static var underSystemd: Bool {
        SocketPath.environment("JOURNAL_STREAM") != nil || SocketPath.environment("INVOCATION_ID") != nil
    }

    /// A line for stderr before there is a log (a refused start): as it always read, with
    /// journald's error prefix under systemd, so the journal keeps it as an error.
    static func startError(_ text: String) {
        writeStandardError((underSystemd ? "<\(Level.error.rawValue)>" : "") + text.replacingNewlines().escapingControlCharacters() + "\n")
    }

    public func error(_ message: @autoclosure () -> String) { write(.error, message) }
    public func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    public func info(_ message: @autoclosure () -> String) { write(.info, message) }
    public func debug(_ message: @autoclosure () -> String) { write(.debug, message) }

    private func write(_ level: Level, _ message: () -> String) {
        guard level.rawValue <= threshold.load(ordering: .relaxed) else { return }
        var line = journal ? "<\(level.rawValue)>" : ""
        line += journal ? "" : "probed \(level.name): "
        line += message().escapingControlCharacters()
        line += "\n"
        lock.withLock { _ in writeStandardError(line) }
    }
}

extension String {
    /// Lines joined with spaces: a start error is one journal entry.
    func replacingNewlines() -> String {
        String(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : Character($0) })
    }
}
