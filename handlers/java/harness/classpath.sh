# The harness and the test libraries, shared by `run` and the image build (CDS needs the same path).
J=/usr/share/java
PHRONOSD_CLASSPATH=/opt/phronosd/harness/phronosd-junit.jar
for jar in junit-jupiter-api junit-jupiter-engine junit-jupiter-params junit-platform-commons \
  junit-platform-engine junit-platform-launcher junit-vintage-engine junit4 hamcrest assertj-core \
  opentest4j apiguardian-api; do
  PHRONOSD_CLASSPATH="$PHRONOSD_CLASSPATH:$J/$jar.jar"
done
