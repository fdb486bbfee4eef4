// Moddable's examples resolve host names through device.network.mqtt.dns (a UDP resolver);
// the benchmark connects to a literal address, which resolves to itself, at once.
export class Resolver {
  resolve(options: { host: string; onResolved(host: string, address: string): void }): void {
    options.onResolved(options.host, options.host);
  }
}
