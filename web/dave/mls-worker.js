// mls-worker.js: the DAVE participant (dave.Participant, MLS) in a
// dedicated module Worker. MLS work (commits, Welcomes, key packages:
// milliseconds of P-256) runs here, never in the media worker.
//
// Messages from the main thread (dave.js), handled in order:
//   {type: 'init', wasm}                     loads the module; answers {type: 'ready'} or {type: 'error', error}
//   {type: 'start', id, userId, channelId}   starts the participant (answers {type: 'reply', id}), then
//                                            prepares its key package (Participant.Prepare) for op 4
//   {type: 'members', users}                 who the server announced (ops 11/13 and self)
//   {type: 'session', version}               op 4's dave_protocol_version
//   {type: 'json', op, d}                    ops 21, 22, 24
//   {type: 'binary', frame}                  a server binary frame (ops 25, 27, 29, 30)
//   {type: 'state', id}, {type: 'pairwise', id, user}   answer {type: 'reply', id, value} or {type: 'reply', id, error}
// Each input answers {type: 'result', out, keys, changed, error, ms}: the
// messages to send to the voice gateway, in order, the key changes for
// the media worker, and the time it took (ms).
import { DaveModule } from './module.js';

let dave = null;

let began = 0; // when the input being handled began (performance.now)

function post(r) {
  // Base secrets are transferred, not copied: this worker keeps none.
  const secrets = r.keys.filter((k) => k.base).map((k) => k.base.buffer);
  if (r.out.length || r.keys.length || r.changed || r.error) self.postMessage({ type: 'result', ...r, ms: performance.now() - began }, secrets);
}

function handle(m) {
  switch (m.type) {
    case 'members':
      return dave.mlsAnnounced(m.users);
    case 'session':
      return post(dave.mlsSessionDescription(m.version));
    case 'json':
      return post(dave.mlsHandleJSON(m.op, m.d));
    case 'binary':
      return post(dave.mlsHandleBinary(m.frame));
    case 'state':
      return self.postMessage({ type: 'reply', id: m.id, value: dave.mlsState() });
    case 'pairwise':
      try {
        self.postMessage({ type: 'reply', id: m.id, value: dave.mlsPairwiseCode(m.user) });
      } catch (err) {
        self.postMessage({ type: 'reply', id: m.id, error: err.message });
      }
      return;
  }
}

let queue = Promise.resolve();
self.onmessage = (e) => {
  const m = e.data;
  queue = queue
    .then(async () => {
      if (m.type === 'init') {
        dave = await DaveModule.load(m.wasm);
        self.postMessage({ type: 'ready' });
        return;
      }
      if (!dave) throw new Error('dave: the MLS worker has no module');
      if (m.type === 'start') {
        try {
          dave.mlsNew(m.userId, m.channelId);
        } catch (err) {
          return self.postMessage({ type: 'reply', id: m.id, error: err.message });
        }
        self.postMessage({ type: 'reply', id: m.id });
        dave.mlsPrepare(); // what op 4 waits for otherwise
        return;
      }
      began = performance.now();
      handle(m);
    })
    .catch((err) => self.postMessage({ type: 'error', error: String((err && err.message) || err) }));
};
