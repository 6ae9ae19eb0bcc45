import CProbeSys

/// The size of the terminal on `fd` (TIOCGWINSZ), nil when it is not a terminal or does not say.
public func terminalSize(_ fd: Int32) -> (rows: Int, cols: Int)? {
    var rows: Int32 = 0, cols: Int32 = 0
    guard cprobe_window_size(fd, &rows, &cols) == 0, rows > 0, cols > 0 else { return nil }
    return (Int(rows), Int(cols))
}
