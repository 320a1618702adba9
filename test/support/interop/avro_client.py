"""A third-party producer and consumer of the job's topics: Confluent's Python client with its
Schema Registry Avro serdes (fastavro underneath), configured as a platform team would.

  produce  --schema FILE --topic T --key FIELD --input records.jsonl [--auto-register]
           Serializes each JSON line with the published .avsc (timestamp-millis fields are given
           as datetimes, as a Python producer would) and produces it, murmur2-partitioned.
  consume  --topics T1,T2 --out out.jsonl
           Reads every partition from the start to the high watermark, deserializes with the
           writer schema from the registry and writes {topic, key, schema_id, value, types} lines:
           datetimes as epoch millis, `types` the Python type of each top-level field.
  lookup   --schema FILE --subject S
           Prints the id the registry holds for the .avsc under S (no registration).

Common: --bootstrap, --registry URL, --user, --password (basic auth).
"""

import argparse
import datetime as dt
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def registry(args):
    conf = {"url": args.registry}
    if args.user:
        conf["basic.auth.user.info"] = f"{args.user}:{args.password}"
    return SchemaRegistryClient(conf)


def timestamp_fields(schema):
    """Top-level fields typed timestamp-millis (possibly in a union with null)."""
    out = set()
    for f in schema["fields"]:
        branches = f["type"] if isinstance(f["type"], list) else [f["type"]]
        if any(isinstance(b, dict) and b.get("logicalType") == "timestamp-millis" for b in branches):
            out.add(f["name"])
    return out


def to_millis(v):
    return (v - EPOCH) // dt.timedelta(milliseconds=1) if isinstance(v, dt.datetime) else v


def produce(args):
    text = open(args.schema).read()
    stamps = timestamp_fields(json.loads(text))
    ser = AvroSerializer(registry(args), text, conf={"auto.register.schemas": args.auto_register})
    producer = Producer({"bootstrap.servers": args.bootstrap, "partitioner": "murmur2_random"})
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(str(err))

    n = 0
    with open(args.input) as f:
        for line in f:
            rec = json.loads(line)
            for k in stamps:
                if rec.get(k) is not None:
                    rec[k] = EPOCH + dt.timedelta(milliseconds=rec[k])
            value = ser(rec, SerializationContext(args.topic, MessageField.VALUE))
            while True:
                try:
                    producer.produce(args.topic, key=rec[args.key].encode(), value=value, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            n += 1
    producer.flush(60)
    if failed:
        sys.exit(f"{len(failed)} deliveries failed: {failed[0]}")
    print(json.dumps({"produced": n}))


def consume(args):
    de = AvroDeserializer(registry(args))
    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap,
            "group.id": "interop-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    todo = {}
    for topic in args.topics.split(","):
        meta = consumer.list_topics(topic, timeout=30).topics[topic]
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if high > low:
                todo[(topic, p)] = high
    consumer.assign([TopicPartition(t, p, 0) for (t, p) in todo])
    deadline = dt.datetime.now() + dt.timedelta(seconds=120)
    with open(args.out, "w") as out:
        while todo:
            if dt.datetime.now() > deadline:
                sys.exit(f"timed out; still reading {sorted(todo)}")
            for msg in consumer.consume(500, 1.0):
                if msg.error():
                    sys.exit(str(msg.error()))
                key = (msg.topic(), msg.partition())
                if key not in todo:
                    continue
                raw = msg.value()
                value = de(raw, SerializationContext(msg.topic(), MessageField.VALUE))
                line = {
                    "topic": msg.topic(),
                    "key": msg.key().decode() if msg.key() is not None else None,
                    "schema_id": int.from_bytes(raw[1:5], "big"),
                    "types": {k: type(v).__name__ for k, v in value.items()},
                    "value": {k: to_millis(v) for k, v in value.items()},
                }
                out.write(json.dumps(line) + "\n")
                if msg.offset() + 1 >= todo[key]:
                    del todo[key]
    consumer.close()


def lookup(args):
    text = open(args.schema).read()
    found = registry(args).lookup_schema(args.subject, Schema(text, "AVRO"))
    print(json.dumps({"id": found.schema_id, "version": found.version}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["produce", "consume", "lookup"])
    ap.add_argument("--bootstrap")
    ap.add_argument("--registry", required=True)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--schema")
    ap.add_argument("--topic")
    ap.add_argument("--topics")
    ap.add_argument("--subject")
    ap.add_argument("--key")
    ap.add_argument("--input")
    ap.add_argument("--out")
    ap.add_argument("--auto-register", action="store_true")
    args = ap.parse_args()
    {"produce": produce, "consume": consume, "lookup": lookup}[args.command](args)


if __name__ == "__main__":
    main()
