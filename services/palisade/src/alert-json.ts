// Alerts as users read them: proto3 JSON names, enums as strings, one object per line.
import { pb, type palisade } from '@palisade/common';

export function alertToJson(alert: palisade.v1.IAlert): string {
  const msg = pb.Alert.fromObject(alert as Record<string, unknown>);
  return JSON.stringify(pb.Alert.toObject(msg, { enums: String, longs: Number, json: true, defaults: false }));
}
