// Waits until a Kafka broker really answers a metadata request (not just an open port).
//   node scripts/kafka/wait-ready.cjs <bootstrap> <timeoutMs> [logHint]
// Exit 0 when it answers, 1 with a message naming the log to read otherwise.
'use strict';
const { AdminClient } = require('@confluentinc/kafka-javascript');

const [bootstrap = '127.0.0.1:9092', timeoutArg = '60000', logHint = ''] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutArg);

function attempt() {
  const admin = AdminClient.create({
    'bootstrap.servers': bootstrap,
    log_level: 0,
    'socket.connection.setup.timeout.ms': 2000,
  });
  admin.listTopics({ timeout: 2000 }, (err) => {
    admin.disconnect();
    if (!err) process.exit(0);
    if (Date.now() > deadline) {
      console.error(
        `Kafka at ${bootstrap} did not answer within ${timeoutArg} ms (${err.message}).` +
          (logHint ? ` See ${logHint}` : ''),
      );
      process.exit(1);
    }
    setTimeout(attempt, 300);
  });
}
attempt();
