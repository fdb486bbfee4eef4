// MQTT 3.1.1 control packets as plain objects. Payloads are Uint8Array views;
// the codec never copies a payload it can view.

export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBSCRIBE = 10;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;

export const PACKET_NAMES = [
  "reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
  "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "reserved",
] as const;

export type QoS = 0 | 1 | 2;

export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

export interface ConnectPacket {
  type: typeof CONNECT;
  clientId: string;
  clean: boolean;
  /** Seconds; 0 disables keepalive. */
  keepalive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
  /** 4 for MQTT 3.1.1 (default); 3 for MQTT 3.1 ("MQIsdp"), for older brokers. */
  protocolVersion?: 3 | 4;
}

/** CONNACK return codes [MQTT-3.2.2.3]. */
export const CONNACK_ACCEPTED = 0;
export const CONNACK_BAD_PROTOCOL = 1;
export const CONNACK_IDENTIFIER_REJECTED = 2;
export const CONNACK_SERVER_UNAVAILABLE = 3;
export const CONNACK_BAD_CREDENTIALS = 4;
export const CONNACK_NOT_AUTHORIZED = 5;

export interface ConnackPacket {
  type: typeof CONNACK;
  sessionPresent: boolean;
  returnCode: number;
}

export interface PublishPacket {
  type: typeof PUBLISH;
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present if and only if qos > 0. */
  id?: number;
}

export interface AckPacket<T extends number> {
  type: T;
  id: number;
}
export type PubackPacket = AckPacket<typeof PUBACK>;
export type PubrecPacket = AckPacket<typeof PUBREC>;
export type PubrelPacket = AckPacket<typeof PUBREL>;
export type PubcompPacket = AckPacket<typeof PUBCOMP>;
export type UnsubackPacket = AckPacket<typeof UNSUBACK>;

export interface Subscription {
  topic: string;
  qos: QoS;
}

export interface SubscribePacket {
  type: typeof SUBSCRIBE;
  id: number;
  subscriptions: Subscription[];
}

/** Granted QoS per subscription, or 0x80 for failure [MQTT-3.9.3]. */
export const SUBACK_FAILURE = 0x80;

export interface SubackPacket {
  type: typeof SUBACK;
  id: number;
  granted: number[];
}

export interface UnsubscribePacket {
  type: typeof UNSUBSCRIBE;
  id: number;
  topics: string[];
}

export interface EmptyPacket<T extends number> {
  type: T;
}
export type PingreqPacket = EmptyPacket<typeof PINGREQ>;
export type PingrespPacket = EmptyPacket<typeof PINGRESP>;
export type DisconnectPacket = EmptyPacket<typeof DISCONNECT>;

/**
 * Not a wire packet: an inbound PUBLISH larger than the decoder's maxPacketSize, skipped as
 * it streamed in. Its topic (when it fits the limit) and id are kept so it can be acknowledged.
 */
export const SKIPPED = 16;
export interface SkippedPacket {
  type: typeof SKIPPED;
  topic: string;
  qos: QoS;
  dup: boolean;
  /** Present if and only if qos > 0. */
  id?: number;
  /** The whole packet's size in bytes, fixed header included. */
  size: number;
}

export type Packet =
  | ConnectPacket | ConnackPacket | PublishPacket
  | PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket
  | SubscribePacket | SubackPacket | UnsubscribePacket | UnsubackPacket
  | PingreqPacket | PingrespPacket | DisconnectPacket;
