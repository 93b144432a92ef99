/**
 * A running Flux instance as a content store: the live half of `--store` / FLUX_URI.
 * Each ContentStore call is one broker RPC, worded on failure as flux-core words it:
 *
 *   currentRoot   kvs.getroot {"namespace":NS,"flags":0}
 *   checkpoints   content.checkpoint-get (nodeid 0)          --no-cache: content-backing.
 *   load          content.load, raw digest                    --no-cache: content-backing.load, nodeid 0
 *   storeMany     content.store, raw blob -> raw digest       --no-cache: content-backing.store, nodeid 0
 *   flush         content.flush (nodeid 0)                    --no-cache: nothing to flush
 *   putCheckpoint content.checkpoint-put {"value":ckpt}       --no-cache: content-backing.
 *   commit        kvs.commit of one dirref at a key (restore --key)
 *   sdNotify      state-machine.sd-notify, no response
 *
 * The hash type comes from the root blobref the dump starts from (what flux-core itself
 * does: its dump sends no attr.get), or from `attr.get content.hash` when a caller needs
 * it before any root (resolveHashType; restore does).
 */
import { DIGEST_SIZE, digestInto, formatBlobref, isHashType, parseBlobref, type HashType } from '../blobref.js';
import { FluxError, MissingBlobError } from '../errors.js';
import { checkpointFromJson, formatCheckpoint, type Checkpoint } from '../store/checkpoint.js';
import type { ContentStore, LoadResult, LoadWindow, WritableContentStore } from '../store/source.js';
import { BrokerClient, BrokerError } from './client.js';
import { jsonPayload, parseJsonPayload, textPayload, type FluxMessage } from './codec.js';
import { ENOENT, ENOSYS } from './errno.js';

export const DEFAULT_NAMESPACE = 'primary';
/** The rank that holds the backing store (content-backing.* and checkpoints). */
const RANK0 = 0;
const EMPTY = new Uint8Array(0);

export interface BrokerStoreOptions {
  /** Bypass the broker's content cache: content-backing.* on rank 0. */
  noCache?: boolean;
  /** KVS namespace for kvs.getroot / kvs.commit (FLUX_KVS_NAMESPACE; default primary). */
  namespace?: string | undefined;
  /** Stores kept in flight by storeMany (restore's --maxreqs). */
  maxreqs?: number;
  /** Append request statistics to this file at exit (FLUXDUMP_STATS). */
  statsFile?: string | undefined;
}

/** The status notifier Progress drives (`--sd-notify`): broker RPCs instead of systemd-notify. */
export interface LiveNotifier {
  status(text: string, final?: boolean): void;
  flush(): Promise<void>;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function codeOf(err: unknown): string {
  return err instanceof FluxError ? err.code : 'EIO';
}

const isErrno = (err: unknown, errnum: number) => err instanceof BrokerError && err.errnum === errnum;
const asResults = (blob: Uint8Array): LoadResult[] => [blob];
const errorResults = (err: unknown): LoadResult[] => [err instanceof Error ? err : new Error(String(err))];
const asError = (err: unknown): LoadResult => (err instanceof Error ? err : new Error(String(err)));

export class BrokerStore implements ContentStore, WritableContentStore {
  readonly location: string;
  readonly client: BrokerClient;
  readonly namespace: string;
  readonly noCache: boolean;
  readonly #maxreqs: number;
  readonly #loadTopic: string;
  readonly #storeTopic: string;
  readonly #contentNode: number | undefined;
  readonly #ckptService: string;
  #hash: HashType | undefined;
  /** load()'s request payload, per hash type. */
  readonly #scratch: Record<HashType, Uint8Array> = { sha1: new Uint8Array(DIGEST_SIZE.sha1), sha256: new Uint8Array(DIGEST_SIZE.sha256) };

  constructor(client: BrokerClient, opts: BrokerStoreOptions = {}) {
    this.client = client;
    this.location = client.uri;
    this.noCache = opts.noCache ?? false;
    this.namespace = opts.namespace || DEFAULT_NAMESPACE;
    this.#maxreqs = Math.max(1, opts.maxreqs ?? 256);
    this.#loadTopic = this.noCache ? 'content-backing.load' : 'content.load';
    this.#storeTopic = this.noCache ? 'content-backing.store' : 'content.store';
    this.#contentNode = this.noCache ? RANK0 : undefined;
    this.#ckptService = this.noCache ? 'content-backing' : 'content';
  }

  static async open(uri: string, opts: BrokerStoreOptions = {}): Promise<BrokerStore> {
    return new BrokerStore(await BrokerClient.connect(uri, { statsFile: opts.statsFile }), opts);
  }

  /** Known once a root was fetched or resolveHashType() ran. */
  get hashType(): HashType {
    if (this.#hash === undefined) throw new Error(`${this.location}: hash type read before a root was fetched (call resolveHashType())`);
    return this.#hash;
  }

  #learnHash(blobref: string): void {
    const h = parseBlobref(blobref).hash;
    if (this.#hash !== undefined && this.#hash !== h) {
      throw new FluxError(`${this.location}: broker uses ${this.#hash} but returned ${blobref}`, 'EPROTO');
    }
    this.#hash = h;
  }

  /** The instance's hash from `attr.get content.hash`. */
  async resolveHashType(): Promise<HashType> {
    let body: unknown;
    try {
      body = parseJsonPayload((await this.client.request('attr.get', jsonPayload({ name: 'content.hash' }))).payload, 'attr.get');
    } catch (err) {
      throw new FluxError(`error fetching content.hash attribute: ${messageOf(err)}`, codeOf(err));
    }
    const value = (body as { value?: unknown }).value;
    if (typeof value !== 'string' || !isHashType(value)) {
      throw new FluxError(`${this.location}: unsupported content.hash ${JSON.stringify(value)}`, 'EPROTO');
    }
    if (this.#hash !== undefined && this.#hash !== value) {
      throw new FluxError(`${this.location}: content.hash is ${value} but the KVS root uses ${this.#hash}`, 'EPROTO');
    }
    this.#hash = value;
    return value;
  }

  async currentRoot(): Promise<string> {
    const { rootref } = await this.getRoot();
    return rootref;
  }

  /** kvs.getroot of our namespace (rootref and sequence). */
  async getRoot(): Promise<{ rootref: string; rootseq: number }> {
    let body: unknown;
    try {
      const m = await this.client.request('kvs.getroot', textPayload(`{"namespace":${JSON.stringify(this.namespace)},"flags":0}`));
      body = parseJsonPayload(m.payload, 'kvs.getroot');
    } catch (err) {
      throw new FluxError(`error fetching current KVS root: ${messageOf(err)}`, codeOf(err));
    }
    const { rootref, rootseq } = body as { rootref?: unknown; rootseq?: unknown };
    if (typeof rootref !== 'string') throw new FluxError(`error fetching current KVS root: response has no rootref`, 'EPROTO');
    this.#learnHash(rootref);
    return { rootref, rootseq: typeof rootseq === 'number' ? rootseq : 0 };
  }

  /** Newest first. The 0.88 reply is {"value":[...]}; older brokers answer {"value":{...}}. */
  async checkpoints(): Promise<Checkpoint[]> {
    let body: unknown;
    try {
      const m = await this.client.request(`${this.#ckptService}.checkpoint-get`, undefined, RANK0);
      body = parseJsonPayload(m.payload, `${this.#ckptService}.checkpoint-get`);
    } catch (err) {
      if (isErrno(err, ENOENT)) return [];
      throw new FluxError(`error fetching checkpoints: ${messageOf(err)}`, codeOf(err));
    }
    const value = (body as { value?: unknown }).value;
    const list = Array.isArray(value) ? value : [value];
    const cks = list.map((v) => checkpointFromJson(v, `${this.location} checkpoint`));
    if (cks[0]) this.#learnHash(cks[0].rootref);
    return cks;
  }

  /**
   * One content.load per blob: a batch of one is what the walk asks for (a window of
   * --maxreqs loads in flight, 2 x --maxreqs answered and not yet handled, plus a group
   * being handled), so each answer lets the next request go out at once.
   */
  loadWindow(maxreqs: number): LoadWindow {
    return { batch: 1, inflight: maxreqs, window: 2 * maxreqs + Math.min(2 * maxreqs, 256) };
  }

  /** The blobs of `count` packed digests, one content.load each; a failed load is its error. */
  loadBatch(digests: Uint8Array, count: number): Promise<LoadResult[]> {
    const size = DIGEST_SIZE[this.hashType];
    if (count === 1) return this.#loadDigest(digests.subarray(0, size)).then(asResults, errorResults);
    const loads: Promise<LoadResult>[] = [];
    for (let i = 0; i < count; i++) loads.push(this.#loadDigest(digests.subarray(i * size, (i + 1) * size)).catch(asError));
    return Promise.all(loads);
  }

  /** content.load of one raw digest (the client copies a small payload before it returns). */
  #loadDigest(digest: Uint8Array): Promise<Uint8Array> {
    return this.client.requestPayload(this.#loadTopic, digest, this.#contentNode, (err) => {
      const blobref = formatBlobref(this.hashType, digest);
      return err.errnum === ENOENT ? new MissingBlobError(`${blobref}: ${err.message}`) : new FluxError(`${this.#loadTopic} ${blobref}: ${err.message}`, err.code);
    });
  }

  /** One blob by blobref (tools and tests). */
  load(blobref: string): Promise<Uint8Array> {
    // The hot path of a live dump: the digest goes into a scratch buffer (the client
    // copies a small payload before request() returns), not a new array per load.
    const hash = this.#hash;
    let digest: Uint8Array;
    if (hash !== undefined && digestInto(blobref, hash, this.#scratch[hash])) digest = this.#scratch[hash];
    else {
      try {
        digest = parseBlobref(blobref).digest;
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.client.requestPayload(this.#loadTopic, digest, this.#contentNode, (err) =>
      err.errnum === ENOENT ? new MissingBlobError(`${blobref}: ${err.message}`) : new FluxError(`${this.#loadTopic} ${blobref}: ${err.message}`, err.code),
    );
  }

  /**
   * One blob in; its blobref (from the digest the broker computed). A failure names
   * `key` when the blob is a key's value, as flux-restore words it.
   */
  async store(blob: Uint8Array, key?: string): Promise<string> {
    let m: FluxMessage;
    try {
      m = await this.client.request(this.#storeTopic, blob.length > 0 ? blob : undefined, this.#contentNode);
    } catch (err) {
      const what = key !== undefined ? `blob for ${key}` : `a blob of ${blob.length} bytes`;
      throw new FluxError(`error storing ${what}: ${messageOf(err)}`, codeOf(err));
    }
    const digest = m.payload ?? EMPTY;
    const hash: HashType | undefined = digest.length === DIGEST_SIZE.sha1 ? 'sha1' : digest.length === DIGEST_SIZE.sha256 ? 'sha256' : undefined;
    if (!hash || (this.#hash !== undefined && hash !== this.#hash)) {
      throw new FluxError(`${this.#storeTopic}: broker returned a ${digest.length}-byte digest`, 'EPROTO');
    }
    return formatBlobref(hash, digest);
  }

  /** Stores pipelined, at most maxreqs in flight; blobrefs in input order. */
  async storeMany(blobs: readonly Uint8Array[]): Promise<string[]> {
    const refs: string[] = new Array(blobs.length);
    let next = 0;
    const lane = async () => {
      while (next < blobs.length) {
        const i = next++;
        refs[i] = await this.store(blobs[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#maxreqs, blobs.length) }, lane));
    return refs;
  }

  /** content.flush: everything stored reaches the backing store. content-backing.store already did. */
  async flush(): Promise<void> {
    if (this.noCache) return;
    try {
      await this.client.request('content.flush', undefined, RANK0);
    } catch (err) {
      throw new FluxError(`error flushing content cache: ${messageOf(err)}`, codeOf(err));
    }
  }

  async putCheckpoint(ckpt: Checkpoint): Promise<void> {
    try {
      await this.client.request(`${this.#ckptService}.checkpoint-put`, textPayload(`{"value":${formatCheckpoint(ckpt)}}`), RANK0);
    } catch (err) {
      throw new FluxError(`error updating checkpoint: ${messageOf(err)}`, codeOf(err));
    }
  }

  /**
   * restore --checkpoint writes under a stopped KVS: kvs.getroot must answer ENOSYS (no
   * such service). Any other answer, success or error, means the KVS may be running.
   */
  async assertKvsUnloaded(): Promise<void> {
    try {
      await this.client.request('kvs.getroot', textPayload(`{"namespace":${JSON.stringify(this.namespace)},"flags":0}`));
    } catch (err) {
      if (isErrno(err, ENOSYS)) return;
      if (!(err instanceof BrokerError)) throw err;
    }
    throw new FluxError('please unload kvs module before using --checkpoint', 'EINVAL');
  }

  /** kvs.commit of `rootref` as a dirref at `key` (restore --key); the new root. */
  async commit(key: string, rootref: string): Promise<{ rootref: string; rootseq: number }> {
    // Key order as flux-core's jansson packs it (the captured request, byte for byte).
    const op = { key, flags: 0, dirent: { ver: 1, type: 'dirref', data: [rootref] } };
    const payload = jsonPayload({ namespace: this.namespace, flags: 0, ops: [op] });
    let body: unknown;
    try {
      body = parseJsonPayload((await this.client.request('kvs.commit', payload)).payload, 'kvs.commit');
    } catch (err) {
      // flux-restore's words (scripts grep for them)
      throw new FluxError(`error updating ${key}: ${messageOf(err)}`, codeOf(err));
    }
    const r = body as { rootref?: unknown; rootseq?: unknown };
    return { rootref: typeof r.rootref === 'string' ? r.rootref : '', rootseq: typeof r.rootseq === 'number' ? r.rootseq : 0 };
  }

  /** state-machine.sd-notify: the broker passes STATUS= on to systemd. No response. */
  sdNotify(status: string): void {
    this.client.send('state-machine.sd-notify', jsonPayload({ status }));
  }

  /** A Progress notifier: every status it is given goes to the broker. */
  sdNotifier(): LiveNotifier {
    return {
      status: (text) => this.sdNotify(text),
      flush: () => this.client.drain(),
    };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The opener src/store/open.ts installs for `local://` URIs. */
export function openBrokerStore(uri: string, opts: BrokerStoreOptions = {}): Promise<BrokerStore> {
  return BrokerStore.open(uri, opts);
}
