import ProbeWire

/// What the ingest side knows of one connection, and the checks of PROTOCOL.md §8 step 8 that
/// depend on it: the role its first message chose, the client's service and the names it
/// DEFINEd, so that every id a record uses is known before the store sees it.
///
/// A value with no I/O: `IngestServer` keeps one per connection and does what `accept` returns
/// (answer, hand over, submit to the store); the whole-path fuzz target (`Tools/fuzz`) drives
/// the same code with arbitrary messages.
struct ClientSession {
    enum Role { case unknown, client, control }

    var role = Role.unknown
    var service = ""
    /// Defined operation names (and their flags) by id (nil = undefined).
    var operations: [String?] = []
    var errorTypes: [String?] = []

    /// A message that passed every check, with what the ingest side does about it.
    enum Accepted {
        /// The handshake: send WELCOME; the store learns of the client.
        case hello(Hello)
        /// The connection becomes a control session, with this first request.
        case controlRequest(String)
        case define(Definition)
        case events(droppedTotal: UInt64, records: [EventRecord])
        case memoryDeltas(droppedTotal: UInt64, records: [MemoryDeltaRecord])
        /// A slow or failed call with the names its ids stand for.
        case callDetail(CallDetail, operation: String, errorType: String?)
    }

    /// Checks `message` against the connection's state and updates it; throws the error the
    /// connection is refused with.
    mutating func accept(_ message: Message) throws(WireError) -> Accepted {
        switch (role, message) {
        case (.unknown, .hello(let hello)):
            guard hello.minVersion <= hello.maxVersion else {
                throw WireError(.malformed, "HELLO min_version \(hello.minVersion) is above max_version \(hello.maxVersion)")
            }
            guard hello.minVersion <= WireProtocol.version && hello.maxVersion >= WireProtocol.version else {
                throw WireError(.unsupportedVersion, "client speaks versions \(hello.minVersion)...\(hello.maxVersion); this daemon speaks 1...\(WireProtocol.version)")
            }
            role = .client
            service = hello.service
            return .hello(hello)
        case (.unknown, .controlRequest(let text)):
            role = .control
            return .controlRequest(text)
        case (.client, .define(let d)):
            try define(d)
            return .define(d)
        case (.client, .events(let dropped, let records)):
            for (i, r) in records.enumerated() {
                guard isOperation(r.operationID) else {
                    throw WireError(.unknownOperation, "record \(i) uses operation id \(r.operationID), which this connection never defined")
                }
                guard isErrorType(r.errorTypeID) else {
                    throw WireError(.unknownOperation, "record \(i) uses error type id \(r.errorTypeID), which this connection never defined")
                }
            }
            return .events(droppedTotal: dropped, records: records)
        case (.client, .memoryDeltas(let dropped, let records)):
            for (i, r) in records.enumerated() where !isOperation(r.operationID) {
                throw WireError(.unknownOperation, "memory record \(i) uses operation id \(r.operationID), which this connection never defined")
            }
            return .memoryDeltas(droppedTotal: dropped, records: records)
        case (.client, .callDetail(let d)):
            guard isOperation(d.operationID), let operation = operations[Int(d.operationID)] else {
                throw WireError(.unknownOperation, "CALL_DETAIL uses operation id \(d.operationID), which this connection never defined")
            }
            guard isErrorType(d.errorTypeID) else {
                throw WireError(.unknownOperation, "CALL_DETAIL uses error type id \(d.errorTypeID), which this connection never defined")
            }
            return .callDetail(d, operation: operation, errorType: d.errorTypeID == 0 ? nil : errorTypes[Int(d.errorTypeID)])
        case (.unknown, _):
            throw WireError(.outOfOrder, "the first message must be HELLO (a client) or CONTROL_REQUEST (a control session), not \(message.typeName)")
        case (.client, .hello):
            throw WireError(.outOfOrder, "HELLO was already received on this connection")
        default:
            throw WireError(.outOfOrder, "\(message.typeName) is not valid from a client at this point")
        }
    }

    func isOperation(_ id: UInt32) -> Bool {
        let op = Int(id)
        return op < operations.count && operations[op] != nil
    }

    func isErrorType(_ id: UInt32) -> Bool {
        let et = Int(id)
        return et == 0 || (et < errorTypes.count && errorTypes[et] != nil)
    }

    /// Whether `d`'s id is already bound on this connection (to its name or, an error, another).
    func isBound(_ d: Definition) -> Bool {
        let index = Int(d.id)
        switch d.kind {
        case .operation: return index < operations.count && operations[index] != nil
        case .errorType: return index < errorTypes.count && errorTypes[index] != nil
        }
    }

    /// Binds an id to a name, once per connection (the same name again is accepted).
    mutating func define(_ d: Definition) throws(WireError) {
        let index = Int(d.id)
        switch d.kind {
        case .operation:
            if operations.count <= index { operations.append(contentsOf: repeatElement(nil, count: index + 1 - operations.count)) }
            if let existing = operations[index], existing != d.name {
                throw WireError(.redefinition, "operation id \(d.id) is already \"\(existing)\"; ids cannot be rebound on a connection")
            }
            operations[index] = d.name
        case .errorType:
            if errorTypes.count <= index { errorTypes.append(contentsOf: repeatElement(nil, count: index + 1 - errorTypes.count)) }
            if let existing = errorTypes[index], existing != d.name {
                throw WireError(.redefinition, "error type id \(d.id) is already \"\(existing)\"; ids cannot be rebound on a connection")
            }
            errorTypes[index] = d.name
        }
    }
}

extension ClientSession.Accepted {
    /// What the store is handed for this message of connection `id` (`bytes` long) from the
    /// process the kernel named (`pid`, `uid`), in order. Nothing for a control request.
    func storeItems(connection id: ConnectionID, pid: Int32, uid: UInt32, bytes: Int) -> [IngestItem] {
        switch self {
        case .hello(let hello): [.connected(id, pid: pid, uid: uid), .hello(id, service: hello.service)]
        case .controlRequest: []
        case .define(let d): [.define(id, d)]
        case .events(let dropped, let records): [.events(id, droppedTotal: dropped, records: records, bytes: bytes)]
        case .memoryDeltas(let dropped, let records): [.memoryDeltas(id, droppedTotal: dropped, records: records, bytes: bytes)]
        case .callDetail(let d, let operation, let errorType):
            [.callDetail(id, d, operation: operation, errorType: errorType, bytes: bytes)]
        }
    }
}

extension Message {
    var typeName: String {
        switch self {
        case .hello: "HELLO"
        case .define: "DEFINE"
        case .events: "EVENTS"
        case .memoryDeltas: "MEMORY"
        case .callDetail: "CALL_DETAIL"
        case .threshold: "THRESHOLD"
        case .controlRequest: "CONTROL_REQUEST"
        case .welcome: "WELCOME"
        case .error: "ERROR"
        case .ack: "ACK"
        case .controlResponse: "CONTROL_RESPONSE"
        }
    }
}
