// Moddable's ECMA-419 MQTT client ($MODDABLE/examples/io/tcp/mqttclient/mqttclient.js),
// which benchmarks/xs-moddable.ts resolves at bench time; never part of this repository.
declare module "moddable:mqttclient" {
  const MQTTClient: {
    new (options: Record<string, unknown>): {
      write(data: ArrayBuffer | ArrayBufferView | null, options?: Record<string, unknown>): number;
      read(count?: number): ArrayBuffer | undefined;
      close(): void;
    };
    readonly CONNACK: number;
    readonly PUBLISH: number;
    readonly PUBACK: number;
    readonly PINGRESP: number;
    readonly DISCONNECT: number;
  };
  export default MQTTClient;
}
