/// `--max-series`: the store holds at most `configuration.maxSeries` series, whatever clients
/// define. Past the cap a DEFINE of a new operation is refused visibly: counted (`series_refused`
/// in `probectl status` and `probed_series_refused_total`), logged once per connection naming the
/// client's pid, and the events that name the refused operation are received (the ledger stays
/// exact: they count in `events_received`) but kept out of statistics and counted as `events_refused`.
/// Operations that already have a series (another process of the same service, a reconnect) are
/// never refused.
extension Store {
    /// Whether a new series may be created now; counts and logs the refusal otherwise.
    func admitNewSeries(_ key: SeriesKey, client: inout Client) -> Bool {
        guard series.count >= configuration.maxSeries else { return true }
        seriesRefused &+= 1
        client.seriesRefused &+= 1
        if client.seriesRefused == 1 {
            configuration.log?.warning(
                "refused new series \"\(key.operation)\" from pid \(key.pid) (service \(key.service)): probed already holds --max-series \(configuration.maxSeries) series; its events for refused operations are counted, not measured; further refusals for this connection are counted (series_refused in probectl status), not logged")
        }
        return false
    }
}
