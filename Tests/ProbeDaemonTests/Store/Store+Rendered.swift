import ProbeControl
@testable import ProbeDaemon

/// The store's reports as probectl receives them: each snapshot through its renderer, as the
/// control server does.
extension Store {
    func statsJSON(window: StatsWindow = .all) -> String { StatsJSON.render(statsSnapshot(window: window)) }
    func statusJSON(pid: Int32, upToDate: Bool = true) -> String { StatusJSON.render(statusSnapshot(), pid: pid, upToDate: upToDate) }
    func procsJSON() -> String { ProcsJSON.render(procsSnapshot()) }
    func gpuJSON() -> String { GPUJSON.render(gpuSnapshot()) }
    func slowJSON(operation: String?) -> String { CallsJSON.slow(slowCallsSnapshot(operation: operation)) }
    func errorsJSON(operation: String?) -> String { CallsJSON.errors(errorsSnapshot(operation: operation)) }
}
