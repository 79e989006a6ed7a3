// SMART App Launch 2.0 with the SMART project's own client (fhirclient), as a public client with PKCE.
//
// The access token lives in this page's memory only: fhirclient keeps its launch state in
// sessionStorage so that it survives the redirect to the authorization server; the storage below
// writes that state WITHOUT the token response (the code verifier and state must cross the redirect,
// the tokens never do), and once the app is authorized the launch state is removed from
// sessionStorage altogether. fhirclient checks `state` on return and replaces the URL, so the code
// and state leave the address bar; tokens are never put in a URL.

import * as BrowserAdapterModule from "fhirclient/lib/adapters/BrowserAdapter";

const BrowserAdapter = BrowserAdapterModule.default?.default ?? BrowserAdapterModule.default;

/** fhirclient's storage: everything in memory, the launch state (tokens stripped) in sessionStorage. */
class LaunchStorage {
  constructor() {
    this.memory = new Map();
  }
  async get(key) {
    if (this.memory.has(key)) return this.memory.get(key);
    const text = sessionStorage.getItem(key);
    return text ? JSON.parse(text) : null;
  }
  async set(key, value) {
    this.memory.set(key, value);
    sessionStorage.setItem(key, JSON.stringify(withoutTokens(value)));
    return value;
  }
  async unset(key) {
    const had = this.memory.delete(key) || sessionStorage.getItem(key) !== null;
    sessionStorage.removeItem(key);
    return had;
  }
  /** After authorization: nothing of the launch stays in the browser's storage. */
  forgetPersisted() {
    sessionStorage.clear();
  }
}

function withoutTokens(value) {
  if (value && typeof value === "object" && "tokenResponse" in value) {
    return { ...value, tokenResponse: {} };
  }
  return value;
}

const storage = new LaunchStorage();

class MemoryAdapter extends BrowserAdapter {
  getStorage() {
    return storage;
  }
}

const smart = new MemoryAdapter({ replaceBrowserHistory: true }).getSmartApi();

/** The v2 scopes, or their v1 `.read` forms when the server does not announce SMART v2 permissions. */
export async function scopesFor(iss, scope, ehrLaunch) {
  let v2 = false;
  try {
    const response = await fetch(`${iss.replace(/\/+$/, "")}/.well-known/smart-configuration`, {
      headers: { Accept: "application/json" },
    });
    if (response.ok) {
      const configuration = await response.json();
      v2 = (configuration.capabilities || []).includes("permission-v2");
    }
  } catch {
    v2 = false; // a v1 server may have no .well-known document: the CapabilityStatement then tells fhirclient
  }
  let scopes = scope.split(" ");
  if (!ehrLaunch) scopes = scopes.filter((s) => s !== "launch");
  if (!v2) scopes = scopes.map((s) => s.replace(/\.rs$/, ".read"));
  return scopes.join(" ");
}

export async function appConfig() {
  const response = await fetch("config.json", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`the service's app configuration could not be read (${response.status})`);
  return response.json();
}

/** Sends the browser to the authorization server (EHR launch with `launch`, or standalone). */
export async function authorize(iss, launch) {
  const config = await appConfig();
  const scope = await scopesFor(iss, config.scope, Boolean(launch));
  const options = {
    iss,
    clientId: config.clientIds[iss] || config.clientId,
    scope,
    redirectUri: new URL("./", location.href).href,
    pkceMode: "required",
  };
  if (launch) options.launch = launch;
  await smart.authorize(options);
}

/** Completes the launch on the redirect page: the code exchanged (PKCE), `state` checked. */
export async function completeLaunch() {
  const client = await smart.ready();
  storage.forgetPersisted();
  return client;
}
