#!/bin/sh
# Image build step: compiles the harness into a jar, then runs it once on the training suite (mode
# `run`) to record the classes it loads into a class-data-sharing archive used by every run. As in
# `run`, the JVM reads its job from the descriptor its argument names: a token (a fixed one: no
# supervisor reads this report), then the variables; it reports on descriptor 0.
set -e
H=/opt/phronosd/harness
. $H/classpath.sh
mkdir -p /tmp/build /work
javac -d /tmp/build -cp "$PHRONOSD_CLASSPATH" $H/src/phronosd/*.java
cp -r $H/resources/META-INF /tmp/build/
jar --create --file $H/phronosd-junit.jar -C /tmp/build .
cp $H/training/*.java /work/
cd /work
java -XX:ArchiveClassesAtExit=$H/phronosd.jsa -XX:+UseSerialGC -XX:-UsePerfData \
  -cp "$PHRONOSD_CLASSPATH" phronosd.Main 3 0>/tmp/build/report.jsonl 3<<EOF
training
PHRONOSD_MODE=run
PHRONOSD_RUNS=5
PHRONOSD_WARMUP=5
PHRONOSD_BUDGET_MS=10000
PHRONOSD_TEST_FILE=TrainingTest.java
PHRONOSD_SOLUTION_FILE=Training.java
EOF
grep -q '^training {"event":"measured"' /tmp/build/report.jsonl
rm -rf /tmp/build /tmp/phronosd /work/*
