/// `--max-series`: the store holds at most `configuration.maxSeries` series, whatever clients
/// define. Past the cap a DEFINE of a new operation is refused visibly: counted (`series_refused`
/// in `probectl status` and `probed_series_refused_total`), logged once per connection naming the
/// client's pid, and the events that name the refused operation are received (the ledger stays
/// exact: they count in `events_received`) but kept out of statistics and counted as `events_refused`.
/// Operations that already have a series (another process of the same service, a reconnect) are
/// never refused. Series held count every process's own and every retired aggregate; before
/// refusing, the series of processes already gone fold into their retired aggregates
/// (Store+Lifecycle.swift), so a live process is refused only when live processes and the
/// operations ever seen fill the cap.
extension Store {
    /// Whether a new series may be created now; counts and logs the refusal otherwise.
    func admitNewSeries(_ key: SeriesKey, client: inout Client) -> Bool {
        guard series.count >= configuration.maxSeries else { return true }
        if makeRoom() { return true }
        seriesRefused &+= 1
        client.seriesRefused &+= 1
        if client.seriesRefused == 1 {
            configuration.log?.warning(
                "refused new series \"\(key.operation)\" from pid \(key.pid) (service \(key.service)): probed already holds --max-series \(configuration.maxSeries) series; its events for refused operations are counted, not measured; further refusals for this connection are counted (series_refused in probectl status), not logged")
        }
        return false
    }
}
