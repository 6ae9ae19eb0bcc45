import ProbeWire

extension Probe {
    /// A handle for `name` whose calls longer than `slowThreshold` are sent to probed with their
    /// attributes, start time and duration (see `probectl slow`); nil removes this client's threshold.
    ///
    /// The threshold belongs to the operation, not to the handle: the latest call for a name sets
    /// it for every handle of that name in this probe. When probed also has one for the operation
    /// (`probectl threshold OPERATION 50ms`), the smaller of the two applies.
    public func operation(_ name: String, slowThreshold: Duration?) -> Operation {
        let id = core.operationID(name)
        core.thresholds.setClient(id, nanoseconds: slowThreshold.map { $0.nanoseconds })
        return Operation(core: core, id: id)
    }

    /// The threshold that applies to `operation` now (the client's or probed's, whichever is
    /// smaller); nil when calls of it are never reported as slow.
    public func slowThreshold(for operation: String) -> Duration? {
        Operation(core: core, id: core.operationID(operation)).slowThreshold
    }

    /// Details of slow or failed calls dropped because their queue (256) was full, or because
    /// probed predates them (its WELCOME does not list the feature). Their events were recorded.
    public var droppedCallDetails: UInt64 { core.callDetails.droppedTotal }
}

extension Probe.Operation {
    /// The threshold that applies to this operation now; nil when none does.
    public var slowThreshold: Duration? {
        let ns = core.thresholds.nanoseconds(id)
        return ns == SlowThresholds.none ? nil : .nanoseconds(Int64(clamping: ns))
    }
}
