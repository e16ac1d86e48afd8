// Drives firehose-local with the AWS SDK for JavaScript v3 (an independent
// client): create a delivery stream, wait for ACTIVE, PutRecordBatch, and
// print the responses as JSON on stdout. Usage: node jsclient.cjs ENDPOINT STREAM BUCKET
const { FirehoseClient, CreateDeliveryStreamCommand, DescribeDeliveryStreamCommand,
  PutRecordBatchCommand, PutRecordCommand } = require('@aws-sdk/client-firehose');

async function main() {
  const [endpoint, stream, bucket] = process.argv.slice(2);
  const client = new FirehoseClient({
    endpoint, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await client.send(new CreateDeliveryStreamCommand({
    DeliveryStreamName: stream,
    ExtendedS3DestinationConfiguration: {
      BucketARN: `arn:aws:s3:::${bucket}`, RoleARN: 'arn:aws:iam::000000000000:role/firehose',
      Prefix: 'js/', BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 60 },
    },
  }));
  let status = '';
  for (let i = 0; i < 100 && status !== 'ACTIVE'; i++) {
    const d = await client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: stream }));
    status = d.DeliveryStreamDescription.DeliveryStreamStatus;
    if (status !== 'ACTIVE') await new Promise((r) => setTimeout(r, 50));
  }
  const enc = new TextEncoder();
  const batch = await client.send(new PutRecordBatchCommand({
    DeliveryStreamName: stream,
    Records: ['js one\n', 'js two\n'].map((s) => ({ Data: enc.encode(s) })),
  }));
  const single = await client.send(new PutRecordCommand({
    DeliveryStreamName: stream, Record: { Data: enc.encode('js three\n') },
  }));
  let notFound = '';
  try {
    await client.send(new PutRecordCommand({ DeliveryStreamName: 'no-such-stream', Record: { Data: enc.encode('x') } }));
  } catch (e) {
    notFound = e.name;
  }
  delete batch.$metadata;
  delete single.$metadata;
  process.stdout.write(JSON.stringify({ status, batch, single, notFound }));
}

main().catch((e) => { console.error(e); process.exit(1); });
