#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import ProbePosix

/// probed's configuration file: `key = value` lines, one per flag, named like the flags without
/// their dashes (`warmup = 5`, `log-level = debug`, `allow-group = probe`). Blank lines and lines
/// starting with `#` are ignored; a value may be wrapped in double quotes. Each value is checked
/// by the same code as its flag, and a bad one is reported as `PATH:LINE: reason`.
public enum ConfigFile {
    public static let defaultPath = "/etc/probed.conf"
    /// The settings a file may hold, in the order `--check-config` prints them.
    public static let keys = ["socket", "warmup", "log-level", "metrics-listen", "sample-interval", "leak-threshold",
                              "leak-window", "allow-group", "control-group", "max-series", "max-clients", "hello-timeout",
                              "call-log-memory", "exited-retention", "state-dir", "state-interval"]
    /// Settings SIGHUP applies at once; every other change is reported as needing a restart.
    public static let liveKeys: Set<String> = ["log-level"]
    /// Larger files are refused: a configuration is a few lines.
    static let maximumBytes = 1 << 20

    /// What is wrong with a file: every problem found, each `PATH:LINE: reason`, in file order.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var problems: [String]
        public var description: String { problems.joined(separator: "\n") }

        public init(description: String) { problems = [description] }
        init(_ numbered: [(line: Int, text: String)]) {
            problems = numbered.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element.text)
        }
    }

    public struct Entry: Equatable, Sendable {
        public var key: String
        public var value: String
        public var line: Int
    }

    /// Splits `text` into entries; throws on a line that is not `key = value`, an unknown key, or a
    /// key given twice — every such line, in order.
    public static func entries(_ text: String, path: String) throws(Invalid) -> [Entry] {
        let (entries, problems) = split(text, path: path)
        guard problems.isEmpty else { throw Invalid(problems) }
        return entries
    }

    /// The good lines as entries, and a problem for each bad one (a key given twice keeps its first).
    static func split(_ text: String, path: String) -> (entries: [Entry], problems: [(line: Int, text: String)]) {
        var result: [Entry] = []
        var problems: [(line: Int, text: String)] = []
        var seen: [String: Int] = [:]
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let number = index + 1
            func problem(_ reason: String) { problems.append((number, "\(path):\(number): \(reason)")) }
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                problem("expected `key = value`, found \"\(line)\"")
                continue
            }
            var key = String(line[..<eq].trimmingWhitespace())
            if key.hasPrefix("--") { key.removeFirst(2) }
            var value = String(line[line.index(after: eq)...].trimmingWhitespace())
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard keys.contains(key) else {
                problem("unknown setting \"\(key)\"; a file may set \(keys.joined(separator: ", "))")
                continue
            }
            if let first = seen[key] {
                problem("\(key) is already set on line \(first); keep one")
                continue
            }
            guard !value.isEmpty else {
                problem("\(key) has no value")
                continue
            }
            seen[key] = number
            result.append(Entry(key: key, value: value, line: number))
        }
        return (result, problems)
    }

    /// Applies `entries` onto `base`, each through the flag parser; throws naming every bad value.
    public static func apply(_ entries: [Entry], path: String, to base: DaemonOptions) throws(Invalid) -> DaemonOptions {
        let (options, problems) = check(entries, path: path, onto: base)
        guard problems.isEmpty else { throw Invalid(problems) }
        return options
    }

    /// `base` with every good entry applied, and a problem for each bad value.
    static func check(_ entries: [Entry], path: String, onto base: DaemonOptions) -> (DaemonOptions, [(line: Int, text: String)]) {
        var options = base
        var problems: [(line: Int, text: String)] = []
        for e in entries {
            do {
                options = try DaemonOptions.parse(["--\(e.key)", e.value], base: options)
            } catch {
                var reason = error.description
                if reason.hasPrefix("--") { reason.removeFirst(2) }
                problems.append((e.line, "\(path):\(e.line): \(reason)"))
            }
        }
        return (options, problems)
    }

    /// Reads and applies the file at `path`; throws naming every bad line, in file order.
    public static func load(_ path: String, onto base: DaemonOptions = DaemonOptions()) throws(Invalid) -> (DaemonOptions, [Entry]) {
        // open + read rather than a whole-file helper: /dev/null (no settings) reads as empty,
        // a directory or an unreadable file is named, and a huge file is not read past the limit.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ENOENT ? "does not exist" : "cannot be read (permissions?)"
            throw Invalid(description: "\(path): the configuration file \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            throw Invalid(description: "\(path): the configuration file cannot be read (a directory)")
        }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while data.count <= maximumBytes {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Invalid(description: "\(path): the configuration file cannot be read (errno \(errno))") }
            if n == 0 { break }
            data.append(contentsOf: chunk[..<n])
        }
        guard data.count <= maximumBytes else {
            throw Invalid(description: "\(path): too large for a configuration file (limit \(maximumBytes) bytes)")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw Invalid(description: "\(path): not UTF-8 text")
        }
        let (list, syntax) = split(text, path: path)
        let (options, values) = check(list, path: path, onto: base)
        guard syntax.isEmpty && values.isEmpty else { throw Invalid(syntax + values) }
        return (options, list)
    }
}

/// The settings probed runs with: the defaults, then the configuration file, then the flags.
public struct DaemonSettings: Sendable {
    public var options: DaemonOptions
    /// The file read, nil when none was.
    public var configPath: String?
    /// Where each key's value came from: "PATH:LINE" or "command line"; absent: the default.
    public var sources: [String: String]
    /// `--check-config`: validate, print, exit.
    public var checkOnly: Bool
    /// The command line, without `--config` and `--check-config`: SIGHUP applies it again over the file.
    public var flags: [String]
    /// `--config` as given (nil: the default path when it exists).
    public var explicitConfig: String?

    /// Resolves `arguments`. `--config PATH` names the file (it must exist); without it
    /// `/etc/probed.conf` is read when present.
    /// Throws `DaemonOptions.UsageError` for a bad flag, `ConfigFile.Invalid` for a bad file.
    public static func resolve(_ arguments: [String], defaultConfig: String = ConfigFile.defaultPath) throws -> DaemonSettings {
        var flags: [String] = []
        var explicit: String? = nil
        var check = false
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            if arg == "--config" {
                guard i + 1 < arguments.count, !arguments[i + 1].isEmpty else {
                    throw DaemonOptions.UsageError(description: "--config needs a path")
                }
                explicit = arguments[i + 1]
                i += 2
                continue
            }
            if arg.hasPrefix("--config=") {
                explicit = String(arg.dropFirst("--config=".count))
                guard explicit?.isEmpty == false else { throw DaemonOptions.UsageError(description: "--config needs a path") }
            } else if arg == "--check-config" {
                check = true
            } else {
                flags.append(arg)
            }
            i += 1
        }
        var settings = DaemonSettings(options: DaemonOptions(), configPath: nil, sources: [:], checkOnly: check,
                                      flags: flags, explicitConfig: explicit)
        try settings.reload(defaultConfig: defaultConfig)
        return settings
    }

    /// Reads the file again and applies the flags over it (SIGHUP).
    public mutating func reload(defaultConfig: String = ConfigFile.defaultPath) throws {
        var options = DaemonOptions()
        var sources: [String: String] = [:]
        var path = explicitConfig
        if path == nil, access(defaultConfig, F_OK) == 0 { path = defaultConfig }
        if let path {
            let (read, entries) = try ConfigFile.load(path, onto: options)
            options = read
            for e in entries { sources[e.key] = "\(path):\(e.line)" }
        }
        options = try DaemonOptions.parse(flags, base: options)
        for flag in flags where flag.hasPrefix("--") {
            let key = String(flag.dropFirst(2).prefix(while: { $0 != "=" }))
            if ConfigFile.keys.contains(key) { sources[key] = "command line" }
        }
        self.options = options
        self.sources = sources
        self.configPath = path
    }

    /// `key = value` for every setting, each with where it came from, as `--check-config` prints them.
    public func render() -> String {
        var lines = ["# probed settings: defaults, then \(configPath ?? "no configuration file"), then the command line"]
        let pairs = options.settings
        let width = pairs.map { $0.key.count + 3 + ($0.value?.count ?? 3) }.max() ?? 0
        for (key, value) in pairs {
            let source = sources[key] ?? "default"
            let text = value.map { "\(key) = \($0)" } ?? "# \(key): off"
            lines.append(text + String(repeating: " ", count: max(1, width - text.count + 2)) + "# " + source)
        }
        return lines.joined(separator: "\n")
    }
}

extension DaemonOptions {
    /// Every setting as it would be written in the file; nil for an optional one that is off.
    public var settings: [(key: String, value: String?)] {
        [
            ("socket", socketPath ?? SocketPath.forDaemon(explicit: nil)),
            ("warmup", String(warmup)),
            ("log-level", logLevel.name),
            ("metrics-listen", metricsAddress?.description),
            ("sample-interval", DaemonOptions.durationText(memory.sampleInterval)),
            ("leak-threshold", DaemonOptions.sizeText(memory.leakThresholdBytesPerMinute)),
            ("leak-window", DaemonOptions.durationText(memory.leakWindow)),
            ("allow-group", allowGroup?.name),
            ("control-group", controlGroup?.name),
            ("max-series", String(maxSeries)),
            ("max-clients", String(maxClients)),
            ("hello-timeout", DaemonOptions.durationText(helloTimeout)),
            ("call-log-memory", DaemonOptions.sizeText(Double(callLogMemory))),
            ("exited-retention", DaemonOptions.durationText(memory.exitedRetention)),
            ("state-dir", effectiveStateDirectory),
            ("state-interval", DaemonOptions.durationText(stateInterval)),
        ]
    }

    /// The changes from `old` to `self`, as (key, old value, new value).
    public func changes(from old: DaemonOptions) -> [(key: String, old: String, new: String)] {
        zip(old.settings, settings).compactMap { a, b in
            a.value == b.value ? nil : (a.key, a.value ?? "off", b.value ?? "off")
        }
    }

    static func durationText(_ ns: UInt64) -> String {
        if ns % 60_000_000_000 == 0 { return "\(ns / 60_000_000_000)m" }
        if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
        if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
        return "\(ns)ns"
    }

    static func sizeText(_ bytes: Double) -> String {
        guard bytes == bytes.rounded(), bytes < 1e18 else { return String(bytes) }
        let n = UInt64(bytes)
        if n % 1_048_576 == 0 { return "\(n / 1_048_576)MiB" }
        if n % 1024 == 0 { return "\(n / 1024)KiB" }
        return "\(n)"
    }
}
