// livekit-server-sdk's EgressClient and IngressClient, called as a LiveKit app calls them, for
// the Python egress and WHIP tests (tests/python/test_egress.py, test_whip.py):
//   node egress-cli.mjs <http_url> <api_key> <api_secret> <method> '<json args>'
// Prints the result as JSON, or {"error": {status, code, message}} and exits with 3.
import {
  DirectFileOutput,
  EgressClient,
  EncodedFileOutput,
  IngressClient,
  IngressInput,
  S3Upload,
  StreamOutput,
  StreamProtocol,
} from 'livekit-server-sdk';

const [url, key, secret, method, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs || '{}');
const client = new EgressClient(url, key, secret);
const ingress = new IngressClient(url, key, secret);
const plain = (v) => (v && typeof v.toJson === 'function' ? v.toJson() : v);
// An S3 upload for a file output, as an app names its bucket: {bucket, endpoint, region,
// accessKey, secret, forcePathStyle}.
const s3 = (a) => (a.s3 ? { output: { case: 's3', value: new S3Upload(a.s3) } } : {});

async function call() {
  switch (method) {
    case 'startTrackEgress':
      return client.startTrackEgress(
        args.room,
        new DirectFileOutput({ filepath: args.filepath ?? '', ...s3(args) }),
        args.trackId,
      );
    case 'startRoomCompositeEgress': {
      const outputs = {};
      if (args.filepath !== undefined) outputs.file = new EncodedFileOutput({ filepath: args.filepath, ...s3(args) });
      if (args.rtmp) outputs.stream = new StreamOutput({ protocol: StreamProtocol.RTMP, urls: args.rtmp });
      return client.startRoomCompositeEgress(args.room, outputs, { layout: args.layout ?? 'grid', audioOnly: !!args.audioOnly });
    }
    case 'startParticipantEgress':
      return client.startParticipantEgress(
        args.room,
        args.identity,
        { file: new EncodedFileOutput({ filepath: args.filepath ?? '' }) },
        { screenShare: !!args.screenShare },
      );
    case 'updateLayout':
      return client.updateLayout(args.egressId, args.layout);
    case 'listEgress':
      return { items: (await client.listEgress(args)).map(plain) };
    case 'stopEgress':
      return client.stopEgress(args.egressId);
    case 'updateStream':
      return client.updateStream(args.egressId, args.add ?? [], args.remove ?? []);
    case 'createIngress':
      return ingress.createIngress(IngressInput.WHIP_INPUT, {
        name: args.name ?? '',
        roomName: args.room,
        participantIdentity: args.identity,
        participantName: args.participantName ?? '',
      });
    case 'listIngress':
      return { items: (await ingress.listIngress(args)).map(plain) };
    case 'deleteIngress':
      return ingress.deleteIngress(args.ingressId);
    default:
      throw new Error(`unknown method ${method}`);
  }
}

try {
  console.log(JSON.stringify(plain(await call())));
} catch (e) {
  console.log(JSON.stringify({ error: { status: e.status ?? null, code: e.code ?? null, message: String(e.message ?? e) } }));
  process.exit(3);
}
