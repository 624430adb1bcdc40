export { FakeKubeApi, statusBody } from './fake-kube-api.js';
export type { FailureSpec, FakeKubeApiOptions, RequestRecord, ResourceName, JsonObject, JsonValue } from './fake-kube-api.js';
