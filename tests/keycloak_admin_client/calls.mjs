// Keycloak's admin client, unmodified, against a registrar server at REGISTRAR_URL (realm
// "open", service account "admin"). Each call's outcome is printed as one JSON line:
// {"call": name, "ok": true|false, "detail": …}; tests/test_keycloak_libraries.py judges them.
import KcAdminClient from "@keycloak/keycloak-admin-client";

const baseUrl = process.env.REGISTRAR_URL;
const realm = "open";
const client = new KcAdminClient({ baseUrl, realmName: realm });
const redirect = "https://rp.example.org/cb";
let failed = false;

async function call(name, work) {
  try {
    const detail = await work();
    console.log(JSON.stringify({ call: name, ok: true, detail: detail ?? null }));
    return detail;
  } catch (error) {
    failed = true;
    const detail = { message: String(error?.message ?? error), status: error?.response?.status };
    console.log(JSON.stringify({ call: name, ok: false, detail }));
    return undefined;
  }
}

function check(condition, what) {
  if (!condition) throw new Error(`unexpected: ${what}`);
}

await call("auth", () =>
  client.auth({ grantType: "client_credentials", clientId: "admin", clientSecret: "admin-secret" }),
);
await call("realms.createClientsInitialAccess", async () => {
  const made = await client.realms.createClientsInitialAccess({ realm }, { count: 2, expiration: 600 });
  check(made.token && made.count === 2 && made.remainingCount === 2, JSON.stringify(made));
  return { id: made.id, count: made.count };
});
await call("realms.getClientsInitialAccess", async () => {
  const listed = await client.realms.getClientsInitialAccess({ realm });
  check(listed.length === 1 && !("token" in listed[0]), JSON.stringify(listed));
  return { listed: listed.length };
});
const created = await call("clients.create", async () => {
  const made = await client.clients.create({ clientId: "node-client", redirectUris: [redirect] });
  check(made.id && made.id !== "node-client", JSON.stringify(made));
  return made;
});
const id = created?.id;
await call("clients.find (clientId)", async () => {
  const found = await client.clients.find({ clientId: "node-client" });
  check(found.length === 1 && found[0].id === id, JSON.stringify(found));
  return { ids: found.map((c) => c.id) };
});
await call("clients.find (search)", async () => {
  const found = await client.clients.find({ clientId: "node-cl", search: true });
  check(found.some((c) => c.clientId === "node-client"), JSON.stringify(found));
  return { clientIds: found.map((c) => c.clientId) };
});
await call("clients.find (all)", async () => {
  const found = await client.clients.find();
  check(found.some((c) => c.id === id), "node-client in the list");
  return { count: found.length };
});
await call("clients.findOne", async () => {
  const one = await client.clients.findOne({ id });
  check(one.clientId === "node-client" && one.redirectUris[0] === redirect, JSON.stringify(one));
  return { clientId: one.clientId, protocol: one.protocol };
});
await call("clients.update", async () => {
  await client.clients.update({ id }, { name: "Node client", description: "changed" });
  const one = await client.clients.findOne({ id });
  check(one.name === "Node client" && one.description === "changed", JSON.stringify(one));
  return { name: one.name };
});
await call("clients.getClientSecret", async () => {
  const secret = await client.clients.getClientSecret({ id });
  check(secret.type === "secret" && secret.value, JSON.stringify(secret));
  return { type: secret.type };
});
await call("clients.generateNewClientSecret", async () => {
  const before = await client.clients.getClientSecret({ id });
  const secret = await client.clients.generateNewClientSecret({ id });
  check(secret.value && secret.value !== before.value, "a new secret");
  return { type: secret.type };
});
await call("clients.generateRegistrationAccessToken", async () => {
  const shown = await client.clients.generateRegistrationAccessToken({ id });
  check(shown.registrationAccessToken, JSON.stringify(shown));
  return { clientId: shown.clientId };
});
await call("clients.del", async () => {
  await client.clients.del({ id });
  const gone = await client.clients.findOne({ id });
  check(gone === undefined || gone === null, JSON.stringify(gone));
  return { deleted: id };
});
await call("realms.delClientsInitialAccess", async () => {
  const [first] = await client.realms.getClientsInitialAccess({ realm });
  await client.realms.delClientsInitialAccess({ realm, id: first.id });
  const left = await client.realms.getClientsInitialAccess({ realm });
  check(left.length === 0, JSON.stringify(left));
  return { deleted: first.id };
});
process.exit(failed ? 1 : 0);
