import CProbeSys

/// The size of the terminal on `fd` (TIOCGWINSZ), nil when it is not a terminal or does not say.
public func terminalSize(_ fd: Int32) -> (rows: Int, cols: Int)? {
    var rows: Int32 = 0, cols: Int32 = 0
    guard cprobe_window_size(fd, &rows, &cols) == 0, rows > 0, cols > 0 else { return nil }
    return (Int(rows), Int(cols))
}

/// The columns of the terminal on `fd`, even where its rows are unknown (0, as in some
/// pseudo-terminals); nil when `fd` is no terminal or says no width.
public func terminalColumns(_ fd: Int32) -> Int? {
    var rows: Int32 = 0, cols: Int32 = 0
    guard cprobe_window_size(fd, &rows, &cols) == 0, cols > 0 else { return nil }
    return Int(cols)
}
