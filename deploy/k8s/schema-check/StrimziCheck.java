// Binds every Strimzi resource of a manifest to Strimzi's own API model, refusing unknown or
// mistyped fields, then checks the durability settings this project relies on.
//   java -cp '.cache/strimzi/libs/*' deploy/k8s/schema-check/StrimziCheck.java deploy/k8s/kafka.yaml deploy/k8s/users.yaml
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.strimzi.api.kafka.model.common.UnknownPropertyPreserving;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import io.strimzi.api.kafka.model.user.KafkaUser;
import java.io.File;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

public class StrimziCheck {
    public static void main(String[] args) throws Exception {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory())
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        int problems = 0, checked = 0, brokers = 0;
        Map<String, Object> config = null;
        for (String path : args) {
            List<JsonNode> docs = yaml.readerFor(JsonNode.class).<JsonNode>readValues(new File(path)).readAll();
            for (JsonNode doc : docs) {
                String kind = doc.path("kind").asText();
                String name = doc.path("metadata").path("name").asText();
                try {
                    Object model;
                    if (kind.equals("Kafka")) {
                        Kafka kafka = yaml.treeToValue(doc, Kafka.class);
                        config = kafka.getSpec().getKafka().getConfig();
                        model = kafka;
                    } else if (kind.equals("KafkaUser")) {
                        model = yaml.treeToValue(doc, KafkaUser.class);
                    } else if (kind.equals("KafkaNodePool")) {
                        KafkaNodePool pool = yaml.treeToValue(doc, KafkaNodePool.class);
                        if (pool.getSpec().getRoles().toString().contains("BROKER")) {
                            brokers += pool.getSpec().getReplicas();
                        }
                        model = pool;
                    } else {
                        continue;
                    }
                    checked++;
                    // Strimzi's model keeps unknown fields aside instead of failing: look for them.
                    List<String> unknown = new ArrayList<>();
                    unknownFields(model, kind, unknown, new IdentityHashMap<>());
                    if (!unknown.isEmpty()) {
                        problems++;
                        System.out.println("INVALID " + kind + "/" + name + ": unknown fields " + unknown);
                        continue;
                    }
                    System.out.println("ok " + kind + "/" + name);
                } catch (Exception e) {
                    problems++;
                    System.out.println("INVALID " + kind + "/" + name + ": " + e.getMessage());
                }
            }
        }
        if (config == null) { System.out.println("INVALID: no Kafka resource"); problems++; }
        else {
            if (brokers < 3) { System.out.println("INVALID: " + brokers + " brokers, want at least 3"); problems++; }
            if (!"3".equals(String.valueOf(config.get("default.replication.factor")))) {
                System.out.println("INVALID: default.replication.factor must be 3"); problems++; }
            if (!"2".equals(String.valueOf(config.get("min.insync.replicas")))) {
                System.out.println("INVALID: min.insync.replicas must be 2"); problems++; }
        }
        System.out.println(checked + " Strimzi resources checked, " + problems + " problems");
        System.exit(problems == 0 && checked > 0 ? 0 : 1);
    }

    static void unknownFields(Object node, String path, List<String> out, Map<Object, Boolean> seen) throws Exception {
        if (node == null || seen.containsKey(node)) return;
        if (node instanceof Collection<?> items) {
            int i = 0;
            for (Object item : items) unknownFields(item, path + "[" + i++ + "]", out, seen);
            return;
        }
        if (!node.getClass().getName().startsWith("io.strimzi.")) return;
        seen.put(node, true);
        if (node instanceof UnknownPropertyPreserving p && p.getAdditionalProperties() != null) {
            for (String key : p.getAdditionalProperties().keySet()) out.add(path + "." + key);
        }
        for (Method m : node.getClass().getMethods()) {
            if (m.getParameterCount() == 0 && m.getName().startsWith("get") && !m.getName().equals("getClass")
                    && !m.getName().equals("getAdditionalProperties")) {
                String child = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
                unknownFields(m.invoke(node), path + "." + child, out, seen);
            }
        }
    }
}
